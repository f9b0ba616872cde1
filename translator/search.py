"""Greedy and beam search over one step interface, shared by every engine.

An engine implements `StepModel`: `encode` builds an opaque decoder state for
a batch of sources, `decode_step` feeds one token per hypothesis and returns
each row's `top_k` best next tokens with their log-probabilities (and EOS's),
and `reorder` selects/duplicates hypotheses (expanding a batch into beams,
following beam back-pointers, dropping finished rows).

Search needs no more than the top k of each row: greedy takes the best one, and
beam search's best 2k continuations of a group of k rows are among the best 2k
of each row. The ONNX engine selects them inside its graph, so the full
(N, V) distribution never leaves the runtime.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from translator.config import DecodeConfig


@dataclasses.dataclass
class StepOutput:
    log_probs: Tensor  # (N, top_k) float32, best first
    ids: Tensor  # (N, top_k) int64 token ids of `log_probs`
    eos_log_probs: Tensor  # (N,) log-probability of EOS
    attention: Tensor | None = None  # (N, L, nh, S) cross-attention, if asked for


class StepModel(Protocol):
    bos_id: int
    eos_id: int

    def encode(self, sources: list[list[int]]) -> Any:
        """Decoder state for a batch of sources (token ids ending with EOS)."""

    def decode_step(self, state: Any, tokens: Tensor, top_k: int, need_attention: bool) -> tuple[StepOutput, Any]:
        """Feed tokens (N,); return each row's `top_k` best next tokens (and EOS, attention), new state."""

    def reorder(self, state: Any, index: Tensor) -> Any:
        """Keep rows `index` (N',) of the state, in that order."""


def sentence_groups(sources: np.ndarray) -> np.ndarray:
    """The sentence of each group of rows, for engines that keep source-side tensors
    (cross-attention keys/values, source mask) once per sentence.

    `sources` (N,) is the sentence of each row. When the rows come in runs of r
    consecutive rows of one sentence (beam search's hypotheses), there are N/r
    groups; otherwise each row is a group of its own.
    """
    n = len(sources)
    changes = np.flatnonzero(sources[1:] != sources[:-1])
    r = int(changes[0]) + 1 if changes.size else max(n, 1)
    if r > 1 and n % r == 0 and bool((sources.reshape(-1, r) == sources[::r, None]).all()):
        return sources[::r]
    return sources


def group_index(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """For each group of `new` (sentence ids), a row of `old` that holds its sentence."""
    row = {int(s): i for i, s in reversed(list(enumerate(old)))}
    return np.array([row[int(s)] for s in new], np.int64)


@dataclasses.dataclass
class Hypothesis:
    tokens: list[int]  # target ids, without BOS/EOS
    score: float  # log-probability normalised by length ** length_penalty
    log_prob: float  # total log-probability, EOS included
    attention: Tensor | None = None  # (T, L, nh, S): one row per emitted token, EOS included


def search(model: StepModel, sources: list[list[int]], cfg: DecodeConfig) -> list[list[Hypothesis]]:
    """Translate a batch; returns `cfg.n_best` hypotheses per source, best first."""
    if not sources:
        return []
    if cfg.beam_size == 1:
        return [[h] for h in _greedy(model, sources, cfg)]
    return _beam(model, sources, cfg)


def _length_norm(log_prob: float, length: int, alpha: float) -> float:
    return log_prob / (length**alpha) if alpha else log_prob


def _candidates(out: StepOutput, at_limit: Tensor, eos: int) -> tuple[Tensor, Tensor]:
    """(log-probs, ids) of each row's candidates; a row that reached its length
    limit has EOS as its only candidate (kept finite so that it is always chosen)."""
    logp, ids = out.log_probs, out.ids
    if bool(at_limit.any()):
        logp, ids = logp.clone(), ids.clone()
        logp[at_limit] = float("-inf")
        logp[at_limit, 0] = out.eos_log_probs[at_limit].clamp(min=-1e4)
        ids[at_limit, 0] = eos
    return logp, ids


def _greedy(model: StepModel, sources: list[list[int]], cfg: DecodeConfig) -> list[Hypothesis]:
    n = len(sources)
    max_len = torch.tensor([cfg.max_target_length(len(s) - 1) for s in sources])
    state = model.encode(sources)
    alive = torch.arange(n)
    tokens = torch.full((n,), model.bos_id, dtype=torch.long)
    history = torch.zeros((n, 0), dtype=torch.long)
    total = torch.zeros(n)
    attn_hist: Tensor | None = None
    results: list[Hypothesis | None] = [None] * n
    step = 0
    while alive.numel():
        step_out, state = model.decode_step(state, tokens, 1, cfg.return_attention)
        attn = step_out.attention
        logp, ids = _candidates(step_out, max_len[alive] <= step, model.eos_id)
        best_lp, tokens = logp[:, 0], ids[:, 0]
        total = total + best_lp
        history = torch.cat([history, tokens.unsqueeze(1)], dim=1)
        if attn is not None:
            a = attn.unsqueeze(1).float()
            attn_hist = a if attn_hist is None else torch.cat([attn_hist, a], dim=1)
        done = tokens == model.eos_id
        for row in done.nonzero().flatten().tolist():
            lp = float(total[row])
            results[int(alive[row])] = Hypothesis(
                tokens=history[row, :-1].tolist(),
                score=_length_norm(lp, step + 1, cfg.length_penalty),
                log_prob=lp,
                attention=None if attn_hist is None else attn_hist[row],
            )
        if bool(done.any()):
            keep = (~done).nonzero().flatten()
            alive, tokens, history, total = alive[keep], tokens[keep], history[keep], total[keep]
            attn_hist = None if attn_hist is None else attn_hist[keep]
            if keep.numel():
                state = model.reorder(state, keep)
        step += 1
    return [r for r in results if r is not None]


def _beam(model: StepModel, sources: list[list[int]], cfg: DecodeConfig) -> list[list[Hypothesis]]:
    n, k = len(sources), cfg.beam_size
    max_len = torch.tensor([cfg.max_target_length(len(s) - 1) for s in sources])
    # The first step runs on one row per sentence (all k beams would start alike);
    # its reorder then expands each sentence into k rows.
    state = model.encode(sources)
    active = torch.arange(n)  # original sentence index of each active group of rows
    scores = torch.zeros((n, 1))  # (groups, rows per group): 1 at the first step, then k
    tokens = torch.full((n,), model.bos_id, dtype=torch.long)
    history = torch.zeros((n, 0), dtype=torch.long)
    attn_hist: Tensor | None = None
    finished: list[list[Hypothesis]] = [[] for _ in range(n)]
    step = 0
    while active.numel():
        m, beams = scores.shape
        step_out, state = model.decode_step(state, tokens, 2 * k, cfg.return_attention)
        attn = step_out.attention
        at_limit = (max_len[active] <= step).repeat_interleave(beams)
        row_lp, row_tok = _candidates(step_out, at_limit, model.eos_id)  # (m*beams, width)
        width = row_lp.size(1)
        cand = (scores.view(m * beams, 1) + row_lp).view(m, beams * width)
        top_scores, top_pos = cand.topk(min(2 * k, cand.size(1)), dim=1)  # (m, 2k)
        top_beam = torch.div(top_pos, width, rounding_mode="floor")
        top_tok = row_tok.view(m, beams * width).gather(1, top_pos)
        is_eos = top_tok == model.eos_id
        if attn is not None:
            a = attn.unsqueeze(1).float()
            attn_hist = a if attn_hist is None else torch.cat([attn_hist, a], dim=1)
        # EOS among the first k candidates finishes a hypothesis.
        eos_first_k = is_eos.clone()
        eos_first_k[:, k:] = False
        eos_first_k &= top_scores > float("-inf")
        for g, j in eos_first_k.nonzero().tolist():
            sent = int(active[g])
            row = g * beams + int(top_beam[g, j])
            lp = float(top_scores[g, j])
            finished[sent].append(
                Hypothesis(
                    tokens=history[row].tolist(),
                    score=_length_norm(lp, step + 1, cfg.length_penalty),
                    log_prob=lp,
                    attention=None if attn_hist is None else attn_hist[row],
                )
            )
        # Continue with the best k candidates that are not EOS.
        cont = top_scores.masked_fill(is_eos, float("-inf"))
        sel_scores, sel = cont.topk(min(k, cont.size(1)), dim=1)  # (m, k)
        sel_beam = top_beam.gather(1, sel)
        sel_tok = top_tok.gather(1, sel)
        rows = (torch.arange(m).unsqueeze(1) * beams + sel_beam).flatten()
        group_done = torch.tensor([len(finished[int(s)]) >= k for s in active]) | (max_len[active] <= step)
        keep_groups = (~group_done).nonzero().flatten()
        if keep_groups.numel() == 0:
            break
        keep_rows = rows.view(m, -1)[keep_groups].flatten()
        scores = sel_scores[keep_groups]
        tokens = sel_tok[keep_groups].flatten()
        history = torch.cat([history[keep_rows], tokens.unsqueeze(1)], dim=1)
        attn_hist = None if attn_hist is None else attn_hist[keep_rows]
        active = active[keep_groups]
        state = model.reorder(state, keep_rows)
        step += 1
    out = []
    for hyps in finished:
        hyps.sort(key=lambda h: h.score, reverse=True)
        out.append(hyps[: cfg.n_best])
    return out
