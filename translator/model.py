"""The pre-norm encoder-decoder Transformer.

Decoding is exposed as pure tensor functions so that the same code is traced
into ONNX: `encode`, `cross_kv` (cross-attention keys/values, once per
sentence) and `decode_step` (one token, with a self-attention KV cache).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translator.attention import MultiHeadAttention, causal_mask
from translator.config import ModelConfig

KV = tuple[Tensor, Tensor]


def sinusoidal_positions(length: int, dim: int) -> Tensor:
    """(length, dim) table: sin in the first half, cos in the second (tensor2tensor layout)."""
    half = dim // 2
    log_increment = math.log(10000.0) / max(half - 1, 1)
    inv_timescales = torch.exp(torch.arange(half, dtype=torch.float32) * -log_increment)
    scaled = torch.arange(length, dtype=torch.float32).unsqueeze(1) * inv_timescales.unsqueeze(0)
    return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=1)


class Dropout(nn.Module):
    """Inverted dropout. On the CPU the mask is drawn from random bytes, which is
    several times faster than `torch.bernoulli` there; p is rounded to 1/256."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, True)
        threshold = round(self.p * 256)
        keep = torch.randint(0, 256, x.shape, dtype=torch.uint8, device=x.device) >= threshold
        return x * keep * (256 / (256 - threshold))


class FeedForward(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.linear1 = nn.Linear(cfg.d_model, cfg.d_ff)
        self.linear2 = nn.Linear(cfg.d_ff, cfg.d_model)
        self.dropout = Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(torch.relu(self.linear1(x))))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.attention_dropout)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.ff = FeedForward(cfg)
        self.dropout = Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.norm1(x)
        a, _ = self.self_attn(h, self.self_attn.project_kv(h), mask)
        x = x + self.dropout(a)
        return x + self.dropout(self.ff(self.norm2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.attention_dropout)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.cross_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.attention_dropout)
        self.norm3 = nn.LayerNorm(cfg.d_model)
        self.ff = FeedForward(cfg)
        self.dropout = Dropout(cfg.dropout)

    def forward(
        self,
        x: Tensor,
        past: KV | None,
        self_mask: Tensor | None,
        cross_kv: KV,
        cross_mask: Tensor,
        need_weights: bool = False,
        k_transposed: bool = False,
    ) -> tuple[Tensor, KV, Tensor | None]:
        """Returns the output, this layer's self-attention keys/values including
        the `past` ones (B, nh, t+T, hs), and optionally cross-attention. With
        `k_transposed`, every key tensor (past, cross, returned) is (B, nh, hs, S)."""
        h = self.norm1(x)
        k, v = self.self_attn.project_kv(h, k_transposed)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=3 if k_transposed else 2), torch.cat([past[1], v], dim=2)
        a, _ = self.self_attn(h, (k, v), self_mask, k_transposed=k_transposed)
        x = x + self.dropout(a)
        c, weights = self.cross_attn(self.norm2(x), cross_kv, cross_mask, need_weights, k_transposed)
        x = x + self.dropout(c)
        return x + self.dropout(self.ff(self.norm3(x))), (k, v), weights


class Transformer(nn.Module):
    positions: Tensor

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_id)
        nn.init.normal_(self.embed.weight, mean=0.0, std=cfg.d_model**-0.5)
        with torch.no_grad():
            self.embed.weight[cfg.pad_id].zero_()
        self.register_buffer("positions", sinusoidal_positions(cfg.max_positions, cfg.d_model), persistent=False)
        self.dropout = Dropout(cfg.dropout)
        self.encoder_layers: list[EncoderLayer] = nn.ModuleList(  # type: ignore[assignment]
            EncoderLayer(cfg) for _ in range(cfg.encoder_layers)
        )
        self.encoder_norm = nn.LayerNorm(cfg.d_model)
        self.decoder_layers: list[DecoderLayer] = nn.ModuleList(  # type: ignore[assignment]
            DecoderLayer(cfg) for _ in range(cfg.decoder_layers)
        )
        self.decoder_norm = nn.LayerNorm(cfg.d_model)
        for name, p in self.named_parameters():
            if p.dim() == 2 and not name.startswith("embed"):
                nn.init.xavier_uniform_(p)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def embed_tokens(self, tokens: Tensor, offset: Tensor | int = 0) -> Tensor:
        """(B, T) ids -> (B, T, D) scaled embeddings plus positions starting at `offset`."""
        t = tokens.size(1)
        pos = self.positions[offset : offset + t] if isinstance(offset, int) else self.positions[offset].unsqueeze(0)
        return self.dropout(self.embed(tokens) * math.sqrt(self.cfg.d_model) + pos)

    def logits(self, h: Tensor) -> Tensor:
        return h @ self.embed.weight.t()  # tied output projection (.., V)

    # --- encoder -------------------------------------------------------------
    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """(B, S) padded source ids -> memory (B, S, D) and key mask (B, 1, 1, S)."""
        mask = (src != self.cfg.pad_id).view(src.size(0), 1, 1, src.size(1))
        x = self.embed_tokens(src)
        for layer in self.encoder_layers:
            x = layer(x, mask)
        return self.encoder_norm(x), mask

    def cross_kv(self, memory: Tensor, k_transposed: bool = False) -> list[KV]:
        """Per decoder layer, cross-attention keys/values (B, nh, S, hs): once per sentence."""
        return [layer.cross_attn.project_kv(memory, k_transposed) for layer in self.decoder_layers]

    # --- decoder, whole sequence (training, forced decoding) -----------------
    def decode(
        self, tgt_in: Tensor, memory: Tensor, src_mask: Tensor, need_weights: bool = False, causal: bool = True
    ) -> tuple[Tensor, list[Tensor]]:
        """Teacher-forced decoder: (B, T) ids -> logits (B, T, V) and, if asked,
        the cross-attention of each layer (B, nh, T, S). `causal=False` lifts the
        future mask (every position sees the whole target but its padding): the
        full-context pass of guided alignment (Garg et al. 2019), not translation."""
        x = self.embed_tokens(tgt_in)
        if causal:
            self_mask = causal_mask(tgt_in.size(1), tgt_in.device)
        else:
            self_mask = (tgt_in != self.cfg.pad_id).view(tgt_in.size(0), 1, 1, tgt_in.size(1))
        attn: list[Tensor] = []
        for layer, ckv in zip(self.decoder_layers, self.cross_kv(memory), strict=True):
            x, _, w = layer(x, None, self_mask, ckv, src_mask, need_weights)
            if w is not None:
                attn.append(w)
        return self.logits(self.decoder_norm(x)), attn

    def forward(
        self, src: Tensor, tgt_in: Tensor, need_weights: bool = False, causal: bool = True
    ) -> tuple[Tensor, list[Tensor]]:
        memory, src_mask = self.encode(src)
        return self.decode(tgt_in, memory, src_mask, need_weights, causal)

    # --- decoder, one step with a KV cache (inference, ONNX) ------------------
    def decode_step(
        self,
        tokens: Tensor,
        cross_kv: list[KV],
        src_mask: Tensor,
        cache: list[KV],
        need_weights: bool = False,
    ) -> tuple[Tensor, list[KV], Tensor | None]:
        """One decoding step for N hypotheses.

        tokens (N,) are the previous tokens; `cache[i]` holds layer i's self-attention
        keys/values (N, nh, t, hs) for the t earlier steps. `cross_kv` and `src_mask`
        have one row per sentence, G of them, with N = G*r: a sentence's r hypotheses
        are consecutive rows (see `MultiHeadAttention.forward`). Returns
        log-probabilities (N, V), the grown cache, and optionally cross-attention
        (N, L, nh, S).
        """
        h, new_cache, attn = self.step_hidden(tokens, cross_kv, src_mask, cache, need_weights)
        return self.logits(h).float().log_softmax(dim=-1), new_cache, attn

    def step_hidden(
        self,
        tokens: Tensor,
        cross_kv: list[KV],
        src_mask: Tensor,
        cache: list[KV],
        need_weights: bool = False,
        k_transposed: bool = False,
    ) -> tuple[Tensor, list[KV], Tensor | None]:
        """`decode_step` up to the final norm: the hidden state (N, D) instead of
        log-probabilities. With `k_transposed` every key tensor is (N, nh, hs, t)."""
        step = cache[0][1].size(2)
        x = self.embed_tokens(tokens.unsqueeze(1), offset=step)  # (N, 1, D)
        new_cache: list[KV] = []
        attn: list[Tensor] = []
        for layer, ckv, past in zip(self.decoder_layers, cross_kv, cache, strict=True):
            x, kv, w = layer(x, past, None, ckv, src_mask, need_weights, k_transposed)
            new_cache.append(kv)  # (N, nh, t+1, hs)
            if w is not None:
                attn.append(w[:, :, 0])  # (N, nh, S)
        return self.decoder_norm(x[:, 0]), new_cache, (torch.stack(attn, dim=1) if attn else None)

    def empty_cache(
        self,
        n: int,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
        k_transposed: bool = False,
    ) -> list[KV]:
        nh, hs = self.cfg.n_heads, self.cfg.d_model // self.cfg.n_heads
        dt = dtype or self.embed.weight.dtype
        k_shape = (n, nh, hs, 0) if k_transposed else (n, nh, 0, hs)
        return [
            (torch.zeros(k_shape, device=device, dtype=dt), torch.zeros((n, nh, 0, hs), device=device, dtype=dt))
            for _ in self.decoder_layers
        ]
