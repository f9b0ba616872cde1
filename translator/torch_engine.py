"""The PyTorch engine: the `StepModel` interface over `Transformer`."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from translator.model import KV, Transformer
from translator.search import StepOutput, regroup


@dataclasses.dataclass
class TorchState:
    cross_kv: list[KV]  # per layer (G, nh, S, hs): one row per group, sentence_groups(sources)
    src_mask: Tensor  # (G, 1, 1, S)
    cache: list[KV]  # per layer (N, nh, t, hs)
    sources: np.ndarray  # (N,) the source sentence of each row


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
        return TorchState(self.model.cross_kv(memory), mask, cache, np.arange(len(sources)))

    @torch.inference_mode()
    def decode_step(
        self, state: TorchState, tokens: Tensor, top_k: int, need_attention: bool
    ) -> tuple[StepOutput, TorchState]:
        logp, cache, attn = self.model.decode_step(
            tokens.to(self.device), state.cross_kv, state.src_mask, state.cache, need_attention
        )
        values, ids = logp.topk(min(top_k, logp.size(-1)), dim=-1)
        out = StepOutput(values.cpu(), ids.cpu(), logp[:, self.eos_id].cpu(), None if attn is None else attn.cpu())
        return out, TorchState(state.cross_kv, state.src_mask, cache, state.sources)

    @torch.inference_mode()
    def reorder(self, state: TorchState, index: Tensor) -> TorchState:
        """Gather rows; source-side tensors only when the groups change (see `OrtEngine.reorder`)."""
        sources, gather = regroup(state.sources, index.cpu().numpy())

        def pick(kvs: list[KV], idx: Tensor) -> list[KV]:
            return [(k.index_select(0, idx), v.index_select(0, idx)) for k, v in kvs]

        cache = pick(state.cache, index.to(self.device))
        if gather is None:
            return TorchState(state.cross_kv, state.src_mask, cache, sources)
        gidx = torch.from_numpy(gather).to(self.device)
        return TorchState(pick(state.cross_kv, gidx), state.src_mask.index_select(0, gidx), cache, sources)
