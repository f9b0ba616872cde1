"""Token-budget batches, bucketed by length, in a seeded order per epoch."""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from torch import Tensor

Example = tuple[list[int], list[int]]  # (source ids, target ids), without BOS/EOS


def make_batches(examples: Sequence[Example], max_tokens: int, seed: int) -> list[list[int]]:
    """Example indices grouped so that padded (batch x longest side) <= max_tokens.

    Examples are sorted by length with random tie-breaking, cut into dense
    batches, and the batch order is shuffled: all decided by `seed`.
    """
    rng = random.Random(seed)
    keys = [(len(t), len(s), rng.random(), i) for i, (s, t) in enumerate(examples)]
    keys.sort()
    batches: list[list[int]] = []
    batch: list[int] = []
    width = 0
    for _, _, _, i in keys:
        s, t = examples[i]
        w = max(width, len(s) + 1, len(t) + 1)
        if batch and w * (len(batch) + 1) > max_tokens:
            batches.append(batch)
            batch, w = [], max(len(s) + 1, len(t) + 1)
        batch.append(i)
        width = w
    if batch:
        batches.append(batch)
    rng.shuffle(batches)
    return batches


def collate(examples: Sequence[Example], pad: int, bos: int, eos: int) -> tuple[Tensor, Tensor, Tensor]:
    """Source (B, S) = ids+EOS, decoder input (B, T) = BOS+ids, output (B, T) = ids+EOS."""
    b = len(examples)
    s_len = max(len(s) for s, _ in examples) + 1
    t_len = max(len(t) for _, t in examples) + 1
    src = torch.full((b, s_len), pad, dtype=torch.long)
    tgt_in = torch.full((b, t_len), pad, dtype=torch.long)
    tgt_out = torch.full((b, t_len), pad, dtype=torch.long)
    for i, (s, t) in enumerate(examples):
        src[i, : len(s) + 1] = torch.tensor([*s, eos])
        tgt_in[i, : len(t) + 1] = torch.tensor([bos, *t])
        tgt_out[i, : len(t) + 1] = torch.tensor([*t, eos])
    return src, tgt_in, tgt_out
