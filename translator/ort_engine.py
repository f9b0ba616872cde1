"""The ONNX Runtime engine: the `StepModel` interface over the exported graphs.

The encoder runs once per batch and returns the source mask and every layer's
cross-attention keys/values; the decoder graph then runs once per step with the
self-attention cache and returns each row's top k next tokens. Its cross-attention
output is requested only when attention is asked for.

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
    ENCODER,
    GRAPH_FORMAT,
    KEY_LAYOUT,
    OPSET,
    TOP_OUTPUTS,
    VARIANTS,
    decoder_inputs,
    decoder_outputs,
    encoder_outputs,
    graph_path,
    graphs_are_current,
    past_names,
    present_names,
    state_shape,
)
from translator.search import StepOutput, regroup

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
        # Threads spin between the operators of a run, and stop when it ends. The encoder
        # and the decoder are two sessions with a thread pool each; threads that went on
        # spinning after a run competed with the other session's threads and with the
        # search's Python for the cores (measured on 2 cores: 1.3x slower greedy decoding
        # at batch 32, up to 1.7x at beam 5 / batch 1).
        so.add_session_config_entry("session.force_spinning_stop", "1")
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
    sources: np.ndarray  # (N,) the source sentence of each row (src_mask, cross_*: a row per sentence_groups)
    order: np.ndarray | None = None  # (N,) the past_* row each row continues (the decoder gathers); None: same


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
        verify(self.model_dir, {"files": {n: files[n] for n in map(rel, (ENCODER, DECODER))}})
        if not graphs_are_current(manifest):
            onnx_info = manifest.get("onnx", {})
            layout, fmt = onnx_info.get("key_layout", "nh-t-hs"), onnx_info.get("graph_format", 1)
            raise TranslatorError(
                f"bundle {self.model_dir}: its ONNX graphs were exported by an older version "
                f"(key layout {layout}, graph format {fmt}; this version needs {KEY_LAYOUT}, {GRAPH_FORMAT}); "
                f"run `translator export --model {self.model_dir}` again"
            )
        cfg = ModelConfig.load(self.model_dir / CONFIG)
        self.bos_id, self.eos_id, self.pad_id = cfg.bos_id, cfg.eos_id, cfg.pad_id
        self.vocab_size = cfg.vocab_size
        self.layers, self.n_heads, self.head_dim = cfg.decoder_layers, cfg.n_heads, cfg.d_model // cfg.n_heads
        self.options = options or OrtOptions()
        self._session_options = self.options.session_options()
        self.io_binding = on_cuda if self.options.io_binding is None else self.options.io_binding
        self.device_type = "cuda" if on_cuda else "cpu"
        self.encoder = self._session(ENCODER)
        self.decoder = self._session(DECODER)
        types = {i.name: i.type for i in self.decoder.get_inputs()}
        outputs = {o.name for o in self.decoder.get_outputs()}
        if set(types) != set(decoder_inputs(self.layers)) or not outputs >= set(decoder_outputs(self.layers, True)):
            raise TranslatorError(
                f"bundle {self.model_dir}: its {self.variant} decoder graph does not have the inputs and outputs "
                f"this version needs; run `translator export --model {self.model_dir}` again"
            )
        self.kv_dtype = _NP_TYPES[types[past_names(self.layers)[0]]]
        self._outputs = {a: decoder_outputs(self.layers, a) for a in (False, True)}  # names, built once
        self._cache_names = list(zip(past_names(self.layers), present_names(self.layers), strict=True))
        self._state_types = types
        self._gather_sessions: dict[tuple[str, ...], ort.InferenceSession] = {}

    def _session(self, graph: str) -> ort.InferenceSession:
        path = graph_path(self.model_dir, self.variant, graph)
        try:
            return ort.InferenceSession(str(path), self._session_options, providers=self.providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise TranslatorError(f"{path}: ONNX Runtime cannot load it: {exc}") from None

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
        for name in past_names(self.layers):
            empty: np.ndarray = np.zeros(state_shape(name, n, self.n_heads, self.head_dim, 0), self.kv_dtype)
            feeds[name] = ort.OrtValue.ortvalue_from_numpy(empty, self.device_type, 0) if self.io_binding else empty
        return OrtState(feeds, np.arange(n))

    def decode_step(
        self, state: OrtState, tokens: Tensor, top_k: int, need_attention: bool
    ) -> tuple[StepOutput, OrtState]:
        session = self.decoder
        outputs = self._outputs[need_attention]
        host_inputs = {
            "tokens": tokens.detach().cpu().numpy().astype(np.int64, copy=False),
            "top_k": np.array([min(top_k, self.vocab_size)], np.int64),
            "beam_index": state.order if state.order is not None else np.arange(len(state.sources)),
        }
        if self.io_binding:
            host = (*TOP_OUTPUTS, "cross_attn")
            bound = self._run_bound(session, host_inputs, state.feeds, outputs, host=host)
            out = {name: (bound[name].numpy() if name in host else bound[name]) for name in outputs}
        else:
            out = dict(zip(outputs, session.run(outputs, {**host_inputs, **state.feeds}), strict=True))
        feeds = dict(state.feeds)
        for past, present in self._cache_names:
            feeds[past] = out[present]
        attn = out.get("cross_attn")
        step = StepOutput(
            log_probs=torch.from_numpy(np.asarray(out["top_log_probs"], np.float32)),
            ids=torch.from_numpy(out["top_ids"]),
            eos_log_probs=torch.from_numpy(np.asarray(out["eos_log_probs"], np.float32)),
            attention=None if attn is None else torch.from_numpy(np.asarray(attn, np.float32)),
        )
        return step, OrtState(feeds, state.sources)

    def reorder(self, state: OrtState, index: Tensor) -> OrtState:
        """Keep rows `index`. The self-attention cache is not copied here: the next
        decoder step gathers it (its `beam_index` input). Source-side tensors (mask,
        cross K/V) hold one row per group of rows (`sentence_groups`) and are gathered
        only when the groups change: expanding sentences into beams, and beam steps
        that shuffle the hypotheses of the same sentences, leave them as they are."""
        idx = index.detach().cpu().numpy().astype(np.int64, copy=False)
        sources, gidx = regroup(state.sources, idx)
        order = idx if state.order is None else state.order[idx]
        if gidx is None:
            return OrtState(state.feeds, sources, order)
        names = [n for n in state.feeds if not n.startswith("past_")]
        feeds = dict(state.feeds)
        if self.io_binding:
            out = self._run_bound(
                self._gather_session(tuple(names)),
                {"index": gidx},
                {n: state.feeds[n] for n in names},
                [f"{n}_out" for n in names],
                host=(),
            )
            feeds.update({n: out[f"{n}_out"] for n in names})
        else:
            feeds.update({n: state.feeds[n][gidx] for n in names})
        return OrtState(feeds, sources, order)

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

    def _gather_session(self, names: tuple[str, ...]) -> ort.InferenceSession:
        """One Gather(axis 0) per state tensor in `names`, so that `reorder` stays on the device."""
        if names in self._gather_sessions:
            return self._gather_sessions[names]
        from onnx import TensorProto, helper

        types = self._state_types
        elem = {"tensor(float)": TensorProto.FLOAT, "tensor(float16)": TensorProto.FLOAT16}
        elem["tensor(bool)"] = TensorProto.BOOL
        nodes = [helper.make_node("Gather", [n, "index"], [f"{n}_out"], axis=0) for n in names]
        inputs = [helper.make_tensor_value_info("index", TensorProto.INT64, ["m"])]
        inputs += [helper.make_tensor_value_info(n, elem[types[n]], None) for n in names]
        outputs = [helper.make_tensor_value_info(f"{n}_out", elem[types[n]], None) for n in names]
        model = helper.make_model(
            helper.make_graph(nodes, "reorder", inputs, outputs), opset_imports=[helper.make_opsetid("", OPSET)]
        )
        model.ir_version = 8
        session = ort.InferenceSession(model.SerializeToString(), self._session_options, providers=self.providers)
        self._gather_sessions[names] = session
        return session


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
