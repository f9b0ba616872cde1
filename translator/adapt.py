"""Adapting the model to the pairs being aligned, as statistical aligners do.

A statistical aligner is fitted on the very sentences it aligns. `adapt` does the
same for the attention model: a copy of the PyTorch model is trained for a few
steps on the (source, target) pairs to align, with the ordinary translation loss
(no alignment labels), so that out-of-domain words get meaningful representations
and the cross-attention sharpens on them. The returned `Translator` shares the
original's tokenizer and configuration and runs the adapted model on the torch
engine; the original is unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from translator.bundle import load_bundle
from translator.errors import TranslatorError
from translator.inference import Translator
from translator.torch_engine import TorchEngine, pad_batch

DEFAULT_STEPS = 30
DEFAULT_LR = 1e-4


def adapt(
    translator: Translator,
    sources: Sequence[str],
    targets: Sequence[str],
    *,
    steps: int = DEFAULT_STEPS,
    lr: float = DEFAULT_LR,
    batch_size: int = 64,
    seed: int = 0,
) -> Translator:
    """A copy of `translator` whose model was trained `steps` steps on the pairs."""
    if steps < 0:
        raise TranslatorError(f"adapt steps must be >= 0, got {steps}")
    if len(sources) != len(targets):
        raise TranslatorError(f"got {len(sources)} sources but {len(targets)} targets; they must pair up")
    model, _, _ = load_bundle(translator.model_dir)
    model = model.float().train()
    cfg = model.cfg
    src_ids = translator.encode_sources(sources)
    tgt_ids = translator.encode_sources(targets)
    pairs = [(s, t) for s, t in zip(src_ids, tgt_ids, strict=True) if s and t]
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)
    for _ in range(steps if pairs else 0):
        order = torch.randperm(len(pairs), generator=generator).tolist()
        for start in range(0, len(order), batch_size):
            batch = [pairs[i] for i in order[start : start + batch_size]]
            src = pad_batch([[*s, cfg.eos_id] for s, _ in batch], cfg.pad_id)
            tgt_in = pad_batch([[cfg.bos_id, *t] for _, t in batch], cfg.pad_id)
            tgt_out = pad_batch([[*t, cfg.eos_id] for _, t in batch], cfg.pad_id)
            logits, _ = model(src, tgt_in)
            loss = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1), ignore_index=cfg.pad_id, label_smoothing=0.1
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
    adapted = copy.copy(translator)
    adapted.engine = TorchEngine(model.eval(), "cpu")
    return adapted
