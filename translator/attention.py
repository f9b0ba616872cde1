"""Multi-head attention: one function that returns `(output, weights)`.

Masks are boolean and broadcastable to (B, nh, T, S); True means "may attend".
When the caller does not ask for the weights, the fused kernel
(`torch.nn.functional.scaled_dot_product_attention`) computes the same result.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def scaled_dot_product(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    *,
    need_weights: bool = False,
    dropout_p: float = 0.0,
    k_transposed: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Attention over (B, nh, T, hs) queries and (B, nh, S, hs) keys/values.

    Returns the output (B, nh, T, hs) and, if `need_weights`, the attention
    probabilities (B, nh, T, S), which sum to 1 over S. With `k_transposed` the
    keys come as (B, nh, hs, S) (the layout of the exported graphs' caches, so
    that no step transposes its keys) and the explicit path is always taken.
    """
    if not need_weights and not k_transposed:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        return out, None
    kt = k if k_transposed else k.transpose(-2, -1)
    scores = (q @ kt) / math.sqrt(q.size(-1))  # (B, nh, T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)  # (B, nh, T, S)
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    return dropped @ v, (weights if need_weights else None)  # (B, nh, T, hs)


def causal_mask(length: int, device: torch.device | None = None) -> Tensor:
    """(1, 1, T, T) boolean mask: position t may attend to positions <= t."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril().view(1, 1, length, length)


def padding_mask(lengths: Tensor, max_len: int) -> Tensor:
    """(B, 1, 1, S) boolean mask that is True on real (non-pad) key positions."""
    positions = torch.arange(max_len, device=lengths.device)
    return (positions.view(1, -1) < lengths.view(-1, 1)).view(-1, 1, 1, max_len)


class MultiHeadAttention(nn.Module):
    """Projections, head split and output projection around `scaled_dot_product`."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def split_heads(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.head_dim).transpose(1, 2)  # (B, nh, T, hs)

    def project_kv(self, x: Tensor, k_transposed: bool = False) -> tuple[Tensor, Tensor]:
        """Keys and values (B, nh, S, hs) of `x` (B, S, D), e.g. once per sentence;
        with `k_transposed` the keys are (B, nh, hs, S)."""
        k = self.split_heads(self.k_proj(x))
        return (k.transpose(-2, -1) if k_transposed else k), self.split_heads(self.v_proj(x))

    def forward(
        self,
        query: Tensor,
        kv: tuple[Tensor, Tensor],
        mask: Tensor | None = None,
        need_weights: bool = False,
        k_transposed: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from `query` (B, T, D) to projected keys/values `kv` (see `project_kv`).

        `kv` (and `mask`) may have fewer rows than `query`: G sentences whose B = G*r
        query rows come grouped, r consecutive rows per sentence (beam search's
        hypotheses). Each sentence's keys/values are then stored once, and its r rows
        attend to them in one product; with G = B this is ordinary attention.
        """
        b, t, _ = query.shape
        nh, hs = self.n_heads, self.head_dim
        k, v = kv
        g = v.size(0)
        q = self.q_proj(query).view(g, -1, t, nh, hs).permute(0, 3, 1, 2, 4).reshape(g, nh, -1, hs)  # (G, nh, r*T, hs)
        p = self.dropout if self.training else 0.0
        out, weights = scaled_dot_product(
            q, k, v, mask, need_weights=need_weights, dropout_p=p, k_transposed=k_transposed
        )
        out = out.view(g, nh, -1, t, hs).permute(0, 2, 3, 1, 4).reshape(b, t, nh * hs)  # (B, T, D)
        if weights is not None:  # (G, nh, r*T, S) -> (B, nh, T, S)
            weights = weights.view(g, nh, -1, t, weights.size(-1)).transpose(1, 2).reshape(b, nh, t, -1)
        return self.out_proj(out), weights
