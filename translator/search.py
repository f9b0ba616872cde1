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

With `DecodeConfig.block_repeats`, a run of up to `MAX_RUN` pieces that spells two letters
or more (`Tokenizer.repeat_weights`) may not follow itself: not "la neige neige",
"promenmenmene" ("men men") or "de lunettes de lunettes". A run can only be repeated by
one token, the one that would complete it, so the search asks the engine for one more
candidate per run length and drops those, and every engine blocks alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
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


def regroup(sources: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """An engine's `reorder` bookkeeping: the state's rows come from sentences
    `sources`, and its source-side tensors hold one row per group
    (`sentence_groups(sources)`); keep rows `index`. Returns the new rows' sentences
    and the rows of the source-side tensors to gather, or None when they stay as they
    are (expanding sentences into beams, beam steps that move hypotheses within their
    sentences)."""
    new_sources = sources[index]
    if np.array_equal(new_sources, sources):
        return new_sources, None
    old_groups, new_groups = sentence_groups(sources), sentence_groups(new_sources)
    if np.array_equal(new_groups, old_groups):
        return new_sources, None
    return new_sources, group_index(old_groups, new_groups)


@dataclasses.dataclass
class Hypothesis:
    tokens: list[int]  # target ids, without BOS/EOS
    score: float  # log-probability normalised by length ** length_penalty
    log_prob: float  # total log-probability, EOS included
    attention: Tensor | None = None  # (T, L, nh, S): one row per emitted token, EOS included


def search(
    model: StepModel, sources: list[list[int]], cfg: DecodeConfig, weights: np.ndarray | None = None
) -> list[list[Hypothesis]]:
    """Translate a batch; returns `cfg.n_best` hypotheses per source, best first.

    `weights`: (V,) int, `Tokenizer.repeat_weights`, by which `cfg.block_repeats` keeps
    runs of pieces from following themselves (None: nothing is blocked)."""
    if not sources:
        return []
    blocked = weights if cfg.block_repeats else None
    if cfg.beam_size == 1:
        return [[h] for h in _greedy(model, sources, cfg, blocked)]
    return _beam(model, sources, cfg, blocked)


def length_norm(log_prob: float, length: int, alpha: float) -> float:
    return log_prob / (length**alpha) if alpha else log_prob


def _candidates(out: StepOutput, at_limit: np.ndarray, eos: int) -> tuple[np.ndarray, np.ndarray]:
    """(log-probs, ids) of each row's candidates; a row that reached its length
    limit has EOS as its only candidate (kept finite so that it is always chosen)."""
    logp, ids = out.log_probs.numpy(), out.ids.numpy()
    if at_limit.any():
        logp, ids = logp.copy(), ids.copy()
        logp[at_limit] = -np.inf
        logp[at_limit, 0] = np.maximum(out.eos_log_probs.numpy()[at_limit], -1e4)
        ids[at_limit, 0] = eos
    return logp, ids


MAX_RUN = 3  # the longest run of pieces that `DecodeConfig.block_repeats` keeps from repeating


def repeating_tokens(history: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(N, r) the token that would make each row of `history` (N, L) end with a run of
    m pieces twice in a row, for m = 1..r (r = min(MAX_RUN, number of run lengths that fit)),
    or -1 where none would: row h repeats a run of m with token h[L-m] when its last m-1
    tokens repeat the first m-1 of the run before them (h[L+1-2m : L+1-m]), and that run
    weighs 2 or more."""
    n, length = history.shape
    runs = [m for m in range(1, MAX_RUN + 1) if 2 * m - 1 <= length]
    out = np.full((n, len(runs)), -1, np.int64)
    for j, m in enumerate(runs):
        run = history[:, length + 1 - 2 * m : length + 1 - m]
        pending = (history[:, length + 1 - m :] == run[:, :-1]).all(axis=1) & (weights[run].sum(axis=1) >= 2)
        out[pending, j] = history[pending, length - m]
    return out


def repeated_run(ids: Sequence[int], weights: np.ndarray) -> bool:
    """Whether `ids` has what `DecodeConfig.block_repeats` blocks: a run of 1 to `MAX_RUN`
    pieces weighing 2 or more twice in a row (for reports and tests; the search uses
    `repeating_tokens`)."""
    ids = list(ids)
    return any(
        ids[i : i + m] == ids[i + m : i + 2 * m] and int(weights[ids[i : i + m]].sum()) >= 2
        for m in range(1, MAX_RUN + 1)
        for i in range(len(ids) - 2 * m + 1)
    )


def _step(
    model: StepModel, state: Any, tokens: np.ndarray, history: np.ndarray, width: int, need_attention: bool,
    at_limit: np.ndarray, blocked: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, Tensor | None, Any]:  # fmt: skip
    """One decoder step after `tokens` (N,), the last of each row's `history` (N, L) (BOS
    when L is 0): (log-probs, ids) of each row's best `width` candidates (see
    `_candidates`), none repeating a run of pieces (`repeating_tokens`, when `blocked`
    holds the weights); attention; new state."""
    repeating = repeating_tokens(history, blocked) if blocked is not None else None
    extra = 0 if repeating is None else repeating.shape[1]
    out, state = model.decode_step(state, _rows(tokens), width + extra, need_attention)
    logp, ids = _candidates(out, at_limit, model.eos_id)
    if repeating is not None and extra:
        repeat = (ids[:, :, None] == repeating[:, None, :]).any(axis=2)
        order = np.argsort(repeat, axis=1, kind="stable")  # the repeats last, the others in order
        logp = np.take_along_axis(np.where(repeat, np.float32(-np.inf), logp), order, axis=1)
        ids = np.take_along_axis(ids, order, axis=1)
    return logp[:, :width], ids[:, :width], out.attention, state


def _best(x: np.ndarray, n: int) -> np.ndarray:
    """Column indices of the n largest values of each row, best first (ties: lower index first)."""
    return np.argsort(-x, axis=1, kind="stable")[:, :n]


def _rows(index: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(index, np.int64))


# The search's bookkeeping is numpy on a handful of rows: cheaper per operation than torch,
# which matters at batch 1, where a step's graph runs in about a millisecond.
def _greedy(
    model: StepModel, sources: list[list[int]], cfg: DecodeConfig, blocked: np.ndarray | None
) -> list[Hypothesis]:
    n = len(sources)
    max_len = np.array([cfg.max_target_length(len(s) - 1) for s in sources])
    state = model.encode(sources)
    alive = np.arange(n)
    tokens = np.full(n, model.bos_id, np.int64)
    history = np.zeros((n, 0), np.int64)
    total = np.zeros(n, np.float32)
    attn_hist: Tensor | None = None
    results: list[Hypothesis | None] = [None] * n
    step = 0
    while alive.size:
        logp, ids, attn, state = _step(
            model, state, tokens, history, 1, cfg.return_attention, max_len[alive] <= step, blocked
        )
        best_lp, tokens = logp[:, 0], ids[:, 0].copy()
        total = total + best_lp
        history = np.concatenate([history, tokens[:, None]], axis=1)
        if attn is not None:
            a = attn.unsqueeze(1).float()
            attn_hist = a if attn_hist is None else torch.cat([attn_hist, a], dim=1)
        done = tokens == model.eos_id
        for row in np.flatnonzero(done).tolist():
            lp = float(total[row])
            results[int(alive[row])] = Hypothesis(
                tokens=history[row, :-1].tolist(),
                score=length_norm(lp, step + 1, cfg.length_penalty),
                log_prob=lp,
                attention=None if attn_hist is None else attn_hist[row],
            )
        if done.any():
            keep = np.flatnonzero(~done)
            alive, tokens, history, total = alive[keep], tokens[keep], history[keep], total[keep]
            attn_hist = None if attn_hist is None else attn_hist[_rows(keep)]
            if keep.size:
                state = model.reorder(state, _rows(keep))
        step += 1
    return [r for r in results if r is not None]


def _beam(
    model: StepModel, sources: list[list[int]], cfg: DecodeConfig, blocked: np.ndarray | None
) -> list[list[Hypothesis]]:
    n, k = len(sources), cfg.beam_size
    max_len = np.array([cfg.max_target_length(len(s) - 1) for s in sources])
    # The first step runs on one row per sentence (all k beams would start alike);
    # its reorder then expands each sentence into k rows.
    state = model.encode(sources)
    active = np.arange(n)  # original sentence index of each active group of rows
    scores = np.zeros((n, 1), np.float32)  # (groups, rows per group): 1 at the first step, then k
    tokens = np.full(n, model.bos_id, np.int64)
    history = np.zeros((n, 0), np.int64)
    attn_hist: Tensor | None = None
    finished: list[list[Hypothesis]] = [[] for _ in range(n)]
    step = 0
    while active.size:
        m, beams = scores.shape
        at_limit = np.repeat(max_len[active] <= step, beams)
        row_lp, row_tok, attn, state = _step(  # (m*beams, width)
            model, state, tokens, history, 2 * k, cfg.return_attention, at_limit, blocked
        )
        width = row_lp.shape[1]
        cand = (scores.reshape(m * beams, 1) + row_lp).reshape(m, beams * width)
        group = np.arange(m)[:, None]
        top_pos = _best(cand, 2 * k)  # (m, 2k)
        top_scores = cand[group, top_pos]
        top_beam = top_pos // width
        top_tok = row_tok.reshape(m, beams * width)[group, top_pos]
        is_eos = top_tok == model.eos_id
        if attn is not None:
            a = attn.unsqueeze(1).float()
            attn_hist = a if attn_hist is None else torch.cat([attn_hist, a], dim=1)
        # EOS among the first k candidates finishes a hypothesis.
        eos_first_k = is_eos[:, :k] & (top_scores[:, :k] > -np.inf)
        for g, j in zip(*np.nonzero(eos_first_k), strict=True):
            sent = int(active[g])
            row = int(g) * beams + int(top_beam[g, j])
            lp = float(top_scores[g, j])
            finished[sent].append(
                Hypothesis(
                    tokens=history[row].tolist(),
                    score=length_norm(lp, step + 1, cfg.length_penalty),
                    log_prob=lp,
                    attention=None if attn_hist is None else attn_hist[row],
                )
            )
        # Continue with the best k candidates that are not EOS.
        cont = np.where(is_eos, np.float32(-np.inf), top_scores)
        sel = _best(cont, k)  # (m, k)
        sel_scores, sel_beam, sel_tok = cont[group, sel], top_beam[group, sel], top_tok[group, sel]
        rows = group * beams + sel_beam
        group_done = np.array([len(finished[s]) >= k for s in active.tolist()]) | (max_len[active] <= step)
        keep_groups = np.flatnonzero(~group_done)
        if keep_groups.size == 0:
            break
        keep_rows = rows[keep_groups].reshape(-1)
        scores = sel_scores[keep_groups]
        tokens = sel_tok[keep_groups].reshape(-1)
        history = np.concatenate([history[keep_rows], tokens[:, None]], axis=1)
        attn_hist = None if attn_hist is None else attn_hist[_rows(keep_rows)]
        active = active[keep_groups]
        state = model.reorder(state, _rows(keep_rows))
        step += 1
    out = []
    for hyps in finished:
        hyps.sort(key=lambda h: h.score, reverse=True)
        out.append(hyps[: cfg.n_best])
    return out
