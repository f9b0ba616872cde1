"""The PyTorch engine: the `StepModel` interface over `Transformer`."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from translator.model import KV, Transformer


@dataclasses.dataclass
class TorchState:
    cross_kv: list[KV]  # per layer (N, nh, S, hs)
    src_mask: Tensor  # (N, 1, 1, S)
    cache: list[KV]  # per layer (N, nh, t, hs)


def pad_batch(sources: list[list[int]], pad_id: int) -> Tensor:
    """(B, S) tensor of right-padded ids."""
    width = max(len(s) for s in sources)
    out = torch.full((len(sources), width), pad_id, dtype=torch.long)
    for i, s in enumerate(sources):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


class TorchEngine:
    name = "torch"

    def __init__(self, model: Transformer, device: str = "cpu") -> None:
        self.model = model.eval().to(device)
        self.device = torch.device(device)
        self.bos_id = model.cfg.bos_id
        self.eos_id = model.cfg.eos_id

    @torch.inference_mode()
    def encode(self, sources: list[list[int]]) -> TorchState:
        src = pad_batch(sources, self.model.cfg.pad_id).to(self.device)
        memory, mask = self.model.encode(src)
        cache = self.model.empty_cache(len(sources), self.device)
        return TorchState(self.model.cross_kv(memory), mask, cache)

    @torch.inference_mode()
    def decode_step(
        self, state: TorchState, tokens: Tensor, need_attention: bool
    ) -> tuple[Tensor, Tensor | None, TorchState]:
        logp, cache, attn = self.model.decode_step(
            tokens.to(self.device), state.cross_kv, state.src_mask, state.cache, need_attention
        )
        return logp.cpu(), (None if attn is None else attn.cpu()), TorchState(state.cross_kv, state.src_mask, cache)

    @torch.inference_mode()
    def reorder(self, state: TorchState, index: Tensor) -> TorchState:
        idx = index.to(self.device)

        def pick(kvs: list[KV]) -> list[KV]:
            return [(k.index_select(0, idx), v.index_select(0, idx)) for k, v in kvs]

        return TorchState(pick(state.cross_kv), state.src_mask.index_select(0, idx), pick(state.cache))
