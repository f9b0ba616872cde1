"""Adapting the model to the pairs being aligned, as statistical aligners do.

A statistical aligner is fitted on the very sentences it aligns. `adapt` does the
same for the attention model: a copy of the PyTorch model is trained for a few
steps on the (source, target) pairs to align, with the ordinary translation loss,
so that out-of-domain words get meaningful representations and the
cross-attention sharpens on them. The returned `Translator` shares the original's
tokenizer and runs the adapted model on the torch engine; the original is unchanged.

Guided adaptation (`guide=`): the same, plus the guided-alignment loss of
Garg et al. 2019 (`training.guided_alignment`) on the pairs themselves. `guide`
holds, per pair, one or more sets of word links from an unsupervised aligner (e.g.
the majority vote of several eflomal runs over the training corpus plus the pairs,
`translator.eflomal_baseline.guide_links` and `majority_guide`); the supervised
head's target row for a target piece is the average over the sets of the uniform
distribution over its linked source pieces. The head is the model's
guided-alignment head if it was trained with one (`ModelConfig.alignment_layer` /
`alignment_head`), else `GUIDED_LAYER` / `GUIDED_HEAD`; the returned translator's
config names it, so that
`translator.align` reads the head that was supervised. No gold links are used.

With `full_context` (the default with a guide), the alignment loss is taken, as in
Garg et al.'s best setting, on a second decoder pass without the future mask, so
that the head aligns target word t knowing the whole target sentence, not only its
prefix; the config then says `alignment_full_context` and `translator.align`
reads the head from such a pass (on the torch engine).

With `null` (the default with a guide), the target pieces a guide run leaves
unaligned are taught to attend to the source EOS, the model's NULL word, as
statistical aligners model unaligned words; the config then says `alignment_null`
and `translator.align` gives no target->source link to a word whose attention on the
source EOS beats every source word.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from translator.bundle import load_bundle
from translator.errors import TranslatorError
from translator.inference import Translator
from translator.progress import progress_bar
from translator.torch_engine import TorchEngine, pad_batch

DEFAULT_STEPS = 30
DEFAULT_LR = 1e-4  # translation loss only
GUIDED_LR = 1e-3  # with a guide: the head has to move further (chosen without gold: reports/alignment_adapt_lr.md)
GUIDED_LAYER, GUIDED_HEAD = -2, 0  # the penultimate decoder layer, as Garg et al.
WordLinks = Sequence[tuple[int, int]]  # (source word, target word), 0-based whitespace words


def adapt(
    translator: Translator,
    sources: Sequence[str],
    targets: Sequence[str],
    *,
    steps: int = DEFAULT_STEPS,
    lr: float | None = None,
    batch_size: int = 64,
    seed: int = 0,
    guide: Sequence[Sequence[WordLinks]] | None = None,
    alignment_weight: float = 1.0,
    full_context: bool = True,
    null: bool = True,
    progress: bool = False,
) -> Translator:
    """A copy of `translator` whose model was trained `steps` passes over the pairs
    (with `guide`: and its alignment head on their links; see the module docstring).
    `progress`: a progress bar of the steps on stderr."""
    from training.guided_alignment import PieceLinks, alignment_loss, alignment_targets, piece_links

    if steps < 0:
        raise TranslatorError(f"adapt steps must be >= 0, got {steps}")
    if len(sources) != len(targets):
        raise TranslatorError(f"got {len(sources)} sources but {len(targets)} targets; they must pair up")
    if guide is not None and len(guide) != len(sources):
        raise TranslatorError(f"got {len(guide)} sets of guide links for {len(sources)} pairs")
    model, _, _ = load_bundle(translator.model_dir)
    model = model.float().train()
    cfg = model.cfg
    layer: int = GUIDED_LAYER  # the supervised head, with a guide
    head: int | None = GUIDED_HEAD
    if cfg.alignment_layer is not None:  # the model's own guided-alignment head
        layer, head = cfg.alignment_layer, cfg.alignment_head
    if guide is not None:
        cfg = dataclasses.replace(cfg, alignment_layer=layer, alignment_head=head,
                                  alignment_full_context=full_context, alignment_null=null)  # fmt: skip
    model.cfg = cfg
    tok = translator.tokenizer
    src_ids = translator.encode_sources(sources)
    tgt_ids = translator.encode_sources(targets)
    # per pair: source ids, target ids and, with a guide, the (T+1, S+1) attention target
    # (rows: the steps predicting each target piece then EOS; columns: source pieces then EOS)
    pairs: list[tuple[list[int], list[int], Tensor | None]] = []
    for n, (s, t) in enumerate(zip(src_ids, tgt_ids, strict=True)):
        if not (s and t):
            continue
        target = None
        if guide is not None:
            src_words, tgt_words = sources[n].split(), targets[n].split()
            n_src, n_tgt = len(src_words), len(tgt_words)
            runs: list[PieceLinks] = []
            for links in guide[n]:
                bad = [(i, j) for i, j in links if not (0 <= i < n_src and 0 <= j < n_tgt)]
                if bad:
                    raise TranslatorError(f"pair {n + 1}: guide link {bad[0][0]}-{bad[0][1]} is out of range")
                piece = piece_links(tok.pieces(s), tok.pieces(t), src_words, tgt_words, links)
                if null:  # unaligned target pieces -> the source EOS (column len(s))
                    linked = {k for k, _ in piece}
                    piece += [(k, len(s)) for k in range(len(t)) if k not in linked]
                runs.append(piece)
            target = alignment_targets(runs, len(t) + 1, len(s) + 1).sum(dim=0)  # the runs averaged
            target = target / target.sum(dim=-1, keepdim=True).clamp(min=1e-9)
        pairs.append((s, t, target))
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=lr or (DEFAULT_LR if guide is None else GUIDED_LR), betas=(0.9, 0.98), eps=1e-9
    )
    for _ in progress_bar(iterable=range(steps if pairs else 0), desc="adapting", unit="step", disable=not progress):
        order = torch.randperm(len(pairs), generator=generator).tolist()
        for start in range(0, len(order), batch_size):
            batch = [pairs[i] for i in order[start : start + batch_size]]
            src = pad_batch([[*s, cfg.eos_id] for s, _, _ in batch], cfg.pad_id)
            tgt_in = pad_batch([[cfg.bos_id, *t] for _, t, _ in batch], cfg.pad_id)
            tgt_out = pad_batch([[*t, cfg.eos_id] for _, t, _ in batch], cfg.pad_id)
            memory, src_mask = model.encode(src)  # once, for both decoder passes
            logits, attn = model.decode(tgt_in, memory, src_mask, need_weights=guide is not None and not full_context)
            loss = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1), ignore_index=cfg.pad_id, label_smoothing=0.1
            )
            if guide is not None:
                if full_context:
                    _, attn = model.decode(tgt_in, memory, src_mask, need_weights=True, causal=False)
                target = torch.zeros(len(batch), tgt_in.size(1), src.size(1))
                for b, (_, _, pair_target) in enumerate(batch):
                    if pair_target is not None:
                        target[b, : pair_target.size(0), : pair_target.size(1)] = pair_target
                loss = loss + alignment_weight * alignment_loss(attn[layer], target, head)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
    adapted = copy.copy(translator)
    adapted.engine = TorchEngine(model.eval(), "cpu")
    adapted.config = cfg
    return adapted
