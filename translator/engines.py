"""Engine selection: one factory for the PyTorch and the ONNX Runtime engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from translator.bundle import load_bundle, read_manifest
from translator.errors import TranslatorError
from translator.model import Transformer
from translator.search import StepModel

ENGINES = ("auto", "torch", "onnx")
DEVICES = ("auto", "cpu", "cuda")


def has_onnx(manifest: dict[str, Any]) -> bool:
    """Whether the bundle's manifest records exported ONNX graphs."""
    from translator.ort_engine import exported_variants

    return bool(exported_variants(manifest))


def torch_device(device: str) -> str:
    if device == "cuda" and not torch.cuda.is_available():
        raise TranslatorError("device=cuda was requested but PyTorch cannot use CUDA here")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def make_engine(
    kind: str,
    model_dir: str | Path,
    device: str = "auto",
    threads: int | None = None,
    variant: str | None = None,
    *,
    model: Transformer | None = None,
    manifest: dict[str, Any] | None = None,
) -> StepModel:
    """A `StepModel` for the bundle: kind torch | onnx | auto (onnx if the bundle has ONNX graphs).

    `variant` (fp32 | int8 | fp16) picks the ONNX graphs (default: fp16 on CUDA,
    else fp32). `model`/`manifest` may be passed when the caller already loaded the bundle.
    """
    if kind not in ENGINES:
        raise TranslatorError(f"engine must be one of {', '.join(ENGINES)}, got {kind!r}")
    if device not in DEVICES:
        raise TranslatorError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    model_dir = Path(model_dir)
    if manifest is None:
        manifest = read_manifest(model_dir)
    if kind == "auto":
        kind = "onnx" if has_onnx(manifest) else "torch"
    if kind == "onnx":
        from translator.ort_engine import OrtEngine, OrtOptions

        options = OrtOptions(intra_op_threads=threads or 0)
        return OrtEngine(model_dir, variant=variant, device=device, options=options, manifest=manifest)
    if variant not in (None, "fp32"):
        raise TranslatorError(f"variant {variant!r} needs the onnx engine; the torch engine runs fp32")
    from translator.torch_engine import TorchEngine

    if threads:
        torch.set_num_threads(threads)
    if model is None:
        model, _, _ = load_bundle(model_dir)
    return TorchEngine(model, torch_device(device))
