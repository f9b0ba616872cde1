"""The ONNX Runtime engine: the `StepModel` interface over the exported graphs.

The encoder runs once per batch and returns the source mask and every layer's
cross-attention keys/values; the decoder graph then runs once per step with the
self-attention cache. `decoder_attn.onnx` (which also returns cross-attention)
is loaded only when attention is asked for.

On the CPU the state is numpy arrays. On CUDA the engine uses IO binding: the
mask, the cross K/V and the cache stay on the device as `OrtValue`s between
steps, only tokens go in and log-probs come out, and `reorder` runs a small
Gather graph on the device.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from torch import Tensor

from translator.bundle import CONFIG, read_manifest, verify
from translator.config import ModelConfig
from translator.errors import TranslatorError
from translator.onnx_export import (
    DECODER,
    DECODER_ATTN,
    ENCODER,
    OPSET,
    VARIANTS,
    cross_names,
    decoder_outputs,
    encoder_outputs,
    graph_path,
    past_names,
    present_names,
)

logger = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
_NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(bool)": np.bool_}


@dataclasses.dataclass(frozen=True)
class OrtOptions:
    """Session settings. 0 threads = ONNX Runtime's default (one per physical core)."""

    intra_op_threads: int = 0
    inter_op_threads: int = 1
    graph_optimization: str = "all"  # disable | basic | extended | all
    memory_arena: bool = True
    io_binding: bool | None = None  # None: on for CUDA only (True on the CPU is for testing the CUDA code path)

    def session_options(self) -> ort.SessionOptions:
        if self.graph_optimization not in _OPT_LEVELS:
            raise TranslatorError(
                f"graph_optimization must be one of {', '.join(_OPT_LEVELS)}, got {self.graph_optimization!r}"
            )
        if self.intra_op_threads < 0 or self.inter_op_threads < 0:
            raise TranslatorError("thread counts must be >= 0")
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.intra_op_threads
        so.inter_op_num_threads = self.inter_op_threads
        so.graph_optimization_level = _OPT_LEVELS[self.graph_optimization]
        so.enable_cpu_mem_arena = self.memory_arena
        so.log_severity_level = 3  # errors only
        return so


# --- provider choice -------------------------------------------------------------
def _available_providers() -> list[str]:
    return list(ort.get_available_providers())


def _cuda_device_count() -> int:
    """GPUs the NVIDIA driver reports (0 if the driver library is missing); never prints anything."""
    names = {"win32": ["nvcuda.dll"], "linux": ["libcuda.so.1", "libcuda.so"]}.get(sys.platform, [])
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return count.value
    return 0


_PROBE = """
import numpy as np, onnx, onnxruntime as ort
from onnx import TensorProto, helper
g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", {opset})])
m.ir_version = 8
s = ort.InferenceSession(m.SerializeToString(), providers=["CUDAExecutionProvider"])
assert s.get_providers()[0] == "CUDAExecutionProvider", s.get_providers()
s.run(None, {{"x": np.ones(1, np.float32)}})
print("cuda-ok")
"""


def _probe_cuda_session() -> tuple[bool, str]:
    """Create a CUDA session in a child process (its error output is captured, not shown)."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE.format(opset=OPSET)], capture_output=True, text=True, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"the CUDA probe did not run: {exc}"
    if proc.returncode == 0 and "cuda-ok" in proc.stdout:
        return True, ""
    lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
    return False, "the ONNX Runtime CUDA provider failed to load" + (f" ({lines[-1][:300]})" if lines else "")


@functools.cache
def cuda_status() -> tuple[bool, str]:
    """(usable, reason if not): can ONNX Runtime really run on CUDA here? Checked once per process."""
    if CUDA not in _available_providers():
        return False, "this onnxruntime build has no CUDA provider (install onnxruntime-gpu)"
    if _cuda_device_count() < 1:
        return False, "no CUDA device is visible (NVIDIA driver libcuda missing or no GPU)"
    return _probe_cuda_session()


def choose_providers(device: str) -> list[str]:
    """Execution providers for device auto|cpu|cuda; CUDA only when it really loads."""
    if device not in DEVICES:
        raise TranslatorError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu":
        return [CPU]
    usable, reason = cuda_status()
    if usable:
        return [CUDA, CPU]
    if device == "cuda":
        raise TranslatorError(f"device=cuda was requested but ONNX Runtime cannot use CUDA here: {reason}")
    return [CPU]


# --- the engine ------------------------------------------------------------------
@dataclasses.dataclass
class OrtState:
    feeds: dict[str, Any]  # src_mask, cross_*, past_*: numpy arrays, or OrtValues with IO binding


class OrtEngine:
    name = "onnx"

    def __init__(
        self,
        model_dir: str | Path,
        *,
        variant: str | None = None,
        device: str = "auto",
        options: OrtOptions | None = None,
        manifest: dict[str, Any] | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        manifest = manifest if manifest is not None else read_manifest(self.model_dir)
        self.providers = choose_providers(device)
        on_cuda = self.providers[0] == CUDA
        self.variant = _pick_variant(self.model_dir, manifest, variant, on_cuda)
        files = manifest.get("files", {})

        def rel(graph: str) -> str:
            return graph_path(self.model_dir, self.variant, graph).relative_to(self.model_dir).as_posix()

        for name in (rel(ENCODER), rel(DECODER)):
            if name not in files:
                raise TranslatorError(f"bundle {self.model_dir}: {name} is not listed in the manifest")
        self._has_attn = rel(DECODER_ATTN) in files
        verify(
            self.model_dir, {"files": {n: files[n] for n in map(rel, (ENCODER, DECODER, DECODER_ATTN)) if n in files}}
        )
        cfg = ModelConfig.load(self.model_dir / CONFIG)
        self.bos_id, self.eos_id, self.pad_id = cfg.bos_id, cfg.eos_id, cfg.pad_id
        self.layers, self.n_heads, self.head_dim = cfg.decoder_layers, cfg.n_heads, cfg.d_model // cfg.n_heads
        self.options = options or OrtOptions()
        self._session_options = self.options.session_options()
        self.io_binding = on_cuda if self.options.io_binding is None else self.options.io_binding
        self.device_type = "cuda" if on_cuda else "cpu"
        self.encoder = self._session(ENCODER)
        self.decoder = self._session(DECODER)
        self._decoder_attn: ort.InferenceSession | None = None
        types = {i.name: i.type for i in self.decoder.get_inputs()}
        self.kv_dtype = _NP_TYPES[types[past_names(self.layers)[0]]]
        self._gather: ort.InferenceSession | None = None
        if self.io_binding:
            self._gather = self._gather_session(types)

    def _session(self, graph: str) -> ort.InferenceSession:
        path = graph_path(self.model_dir, self.variant, graph)
        try:
            return ort.InferenceSession(str(path), self._session_options, providers=self.providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise TranslatorError(f"{path}: ONNX Runtime cannot load it: {exc}") from None

    @property
    def decoder_attn(self) -> ort.InferenceSession:
        if self._decoder_attn is None:
            if not self._has_attn:
                raise TranslatorError(
                    f"the {self.variant} ONNX variant has no attention graph ({DECODER_ATTN}); "
                    "use variant fp32 or int8, or the torch engine, for attention"
                )
            self._decoder_attn = self._session(DECODER_ATTN)
        return self._decoder_attn

    # --- StepModel ---------------------------------------------------------------
    def encode(self, sources: list[list[int]]) -> OrtState:
        width = max(len(s) for s in sources)
        src = np.full((len(sources), width), self.pad_id, np.int64)
        for i, s in enumerate(sources):
            src[i, : len(s)] = s
        n = len(sources)
        names = encoder_outputs(self.layers)
        if self.io_binding:
            feeds = self._run_bound(self.encoder, {"src": src}, {}, names, host=())
        else:
            feeds = dict(zip(names, self.encoder.run(names, {"src": src}), strict=True))
        shape = (n, self.n_heads, 0, self.head_dim)
        for name in past_names(self.layers):
            empty: np.ndarray = np.zeros(shape, self.kv_dtype)
            feeds[name] = ort.OrtValue.ortvalue_from_numpy(empty, self.device_type, 0) if self.io_binding else empty
        return OrtState(feeds)

    def decode_step(
        self, state: OrtState, tokens: Tensor, need_attention: bool
    ) -> tuple[Tensor, Tensor | None, OrtState]:
        session = self.decoder_attn if need_attention else self.decoder
        outputs = decoder_outputs(self.layers, need_attention)
        toks = tokens.detach().cpu().numpy().astype(np.int64, copy=False)
        if self.io_binding:
            out = self._run_bound(session, {"tokens": toks}, state.feeds, outputs, host=("log_probs", "cross_attn"))
            logp = out["log_probs"].numpy()
            attn = out["cross_attn"].numpy() if need_attention else None
        else:
            out = dict(zip(outputs, session.run(outputs, {"tokens": toks, **state.feeds}), strict=True))
            logp, attn = out["log_probs"], out.get("cross_attn")
        feeds = dict(state.feeds)
        for past, present in zip(past_names(self.layers), present_names(self.layers), strict=True):
            feeds[past] = out[present]
        return (
            torch.from_numpy(np.asarray(logp, np.float32)),
            None if attn is None else torch.from_numpy(np.asarray(attn, np.float32)),
            OrtState(feeds),
        )

    def reorder(self, state: OrtState, index: Tensor) -> OrtState:
        idx = index.detach().cpu().numpy().astype(np.int64, copy=False)
        if self._gather is None:
            return OrtState({k: v[idx] for k, v in state.feeds.items()})
        names = list(state.feeds)
        out = self._run_bound(self._gather, {"index": idx}, state.feeds, [f"{n}_out" for n in names], host=())
        return OrtState({n: out[f"{n}_out"] for n in names})

    # --- IO binding (CUDA) -------------------------------------------------------
    def _run_bound(
        self,
        session: ort.InferenceSession,
        host_inputs: dict[str, np.ndarray],
        device_inputs: dict[str, Any],
        outputs: list[str],
        host: tuple[str, ...],
    ) -> dict[str, Any]:
        """Run with inputs/outputs bound: state tensors stay on the device, `host` outputs come back."""
        binding = session.io_binding()
        for name, array in host_inputs.items():
            binding.bind_cpu_input(name, array)
        for name, value in device_inputs.items():
            binding.bind_ortvalue_input(name, value)
        for name in outputs:
            binding.bind_output(name, "cpu" if name in host else self.device_type, 0)
        session.run_with_iobinding(binding)
        return dict(zip(outputs, binding.get_outputs(), strict=True))

    def _gather_session(self, types: dict[str, str]) -> ort.InferenceSession:
        """One Gather(axis 0) per state tensor, so that `reorder` stays on the device."""
        from onnx import TensorProto, helper

        elem = {"tensor(float)": TensorProto.FLOAT, "tensor(float16)": TensorProto.FLOAT16}
        elem["tensor(bool)"] = TensorProto.BOOL
        names = ["src_mask", *cross_names(self.layers), *past_names(self.layers)]
        nodes = [helper.make_node("Gather", [n, "index"], [f"{n}_out"], axis=0) for n in names]
        inputs = [helper.make_tensor_value_info("index", TensorProto.INT64, ["m"])]
        inputs += [helper.make_tensor_value_info(n, elem[types[n]], None) for n in names]
        outputs = [helper.make_tensor_value_info(f"{n}_out", elem[types[n]], None) for n in names]
        model = helper.make_model(
            helper.make_graph(nodes, "reorder", inputs, outputs), opset_imports=[helper.make_opsetid("", OPSET)]
        )
        model.ir_version = 8
        return ort.InferenceSession(model.SerializeToString(), self._session_options, providers=self.providers)


def exported_variants(manifest: dict[str, Any]) -> list[str]:
    """ONNX variants the manifest records (exported by `translator export`)."""
    return [v for v in manifest.get("variants", []) if v in VARIANTS]


def _pick_variant(model_dir: Path, manifest: dict[str, Any], variant: str | None, on_cuda: bool) -> str:
    have = exported_variants(manifest)
    if not have:
        raise TranslatorError(
            f"bundle {model_dir} has no ONNX graphs; run `translator export --model {model_dir}` first"
        )
    if variant is None:
        order = ("fp16", "fp32", "int8") if on_cuda else ("fp32", "int8", "fp16")
        return next(v for v in order if v in have)
    if variant not in VARIANTS:
        raise TranslatorError(f"unknown ONNX variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if variant not in have:
        raise TranslatorError(
            f"bundle {model_dir} has no {variant} ONNX graphs (it has: {', '.join(have)}); "
            f"run `translator export --model {model_dir} --variants {variant}`"
        )
    return variant
