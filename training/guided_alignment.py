"""Guided alignment (Garg et al. 2019, "Jointly Learning to Align and Translate with
Transformer Models"): one cross-attention head is trained to follow word alignments.

The word alignments of the training data come from a statistical aligner
(`translator align-corpus`, eflomal): Pharaoh links over the whitespace words of
each raw line. Here they become subword links: each piece belongs to a word
exactly as in `translator.align.piece_words` (the same mapping the alignment
output uses to go back from pieces to words), and target piece t is linked to
every piece of every source word aligned to t's word.

The loss is the cross-entropy between the supervised attention row of the step
that predicts target piece t (the convention of `translator.align`) and the
uniform distribution over t's linked source pieces; rows without links are not
supervised. It is averaged over supervised rows and added to the translation loss
with weight `TrainConfig.alignment_weight`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from translator.align import piece_words
from translator.errors import TranslatorError

WordLinks = list[tuple[int, int]]  # (source word, target word), 0-based
PieceLinks = list[tuple[int, int]]  # (target piece, source piece), 0-based


def read_word_links(path: Path, n_lines: int, prefix: bool = False) -> list[WordLinks]:
    """The links of `translator align-corpus`: one line per training pair, `n_lines`
    of them (with `prefix`, the first `n_lines` of a longer file)."""
    from translator.eflomal_baseline import read_alignments

    if not path.is_file():
        raise TranslatorError(f"alignment file {path} not found: create it with `translator align-corpus --data DIR`")
    links = read_alignments(path)
    if len(links) != n_lines and not (prefix and len(links) > n_lines):
        raise TranslatorError(f"{path} has {len(links)} lines but the training data has {n_lines}")
    return [list(x) for x in links[:n_lines]]


def piece_links(
    src_pieces: Sequence[str],
    tgt_pieces: Sequence[str],
    src_words: Sequence[str],
    tgt_words: Sequence[str],
    links: Sequence[tuple[int, int]],
) -> PieceLinks:
    """Word links (over the whitespace-separated words) -> (target piece, source piece) links;
    links outside the words are dropped."""
    src_owner = piece_words(src_pieces, src_words)
    tgt_owner = piece_words(tgt_pieces, tgt_words)
    pieces_of: dict[int, list[int]] = {}
    for k, w in enumerate(src_owner):
        pieces_of.setdefault(w, []).append(k)
    sources_of: dict[int, list[int]] = {}
    for i, j in links:
        sources_of.setdefault(j, []).append(i)
    out: PieceLinks = []
    for t, w in enumerate(tgt_owner):
        for i in sources_of.get(w, ()):
            out.extend((t, s) for s in pieces_of.get(i, ()))
    return out


def alignment_targets(batch: Sequence[PieceLinks], tgt_len: int, src_len: int) -> Tensor:
    """(B, T, S) target distributions: each supervised row is uniform over its linked pieces."""
    target = torch.zeros(len(batch), tgt_len, src_len)
    for b, links in enumerate(batch):
        if links:
            t, s = zip(*links, strict=True)
            target[b, list(t), list(s)] = 1.0
    return target / target.sum(dim=-1, keepdim=True).clamp(min=1.0)


def alignment_loss(attention: Tensor, target: Tensor, head: int | None) -> Tensor:
    """Mean cross-entropy over supervised rows; attention (B, nh, T, S) of one layer."""
    probs = attention.float().mean(dim=1) if head is None else attention[:, head].float()
    rows = target.sum(dim=-1) > 0
    if not bool(rows.any()):
        return probs.sum() * 0.0
    ce = -(target * probs.clamp(min=1e-9).log()).sum(dim=-1)
    return ce[rows].mean()
