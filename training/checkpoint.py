"""Training checkpoints: atomic writes, safe loading, averaging."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

import torch

from translator.bundle import atomic_write_bytes, load_state_dict
from translator.errors import TranslatorError


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` so that a crash at any moment leaves either the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    state = load_state_dict(path, what="a valid checkpoint")
    for key in ("model", "config"):
        if key not in state:
            raise TranslatorError(f"{path} is not a training checkpoint (no {key!r} entry)")
    return state


def average_checkpoints(paths: list[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the model weights of several checkpoints."""
    if not paths:
        raise TranslatorError("no checkpoints to average")
    total: dict[str, torch.Tensor] = {}
    for p in paths:
        model = load_checkpoint(p)["model"]
        for k, v in model.items():
            total[k] = total[k] + v.double() if k in total else v.double()
    return {k: (v / len(paths)).float() for k, v in total.items()}


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
