"""Export a bundle's model to ONNX graphs for the ONNX Runtime engine.

Inside the bundle, one folder per variant:

    onnx/<variant>/encoder.onnx       src (B, S) int64 -> src_mask (B, 1, 1, S) bool and,
                                      per decoder layer i, cross_k_i / cross_v_i (B, nh, S, hs)
    onnx/<variant>/decoder.onnx       one step: tokens (N,) int64, src_mask, cross_k_i / cross_v_i,
                                      past_k_i / past_v_i (N, nh, t, hs), t >= 0
                                      -> log_probs (N, V) fp32, present_k_i / present_v_i (N, nh, t+1, hs)
    onnx/<variant>/decoder_attn.onnx  the same plus cross_attn (N, L, nh, S); fp32 and int8 only

Variants: `fp32`; `int8`, the fp32 graphs with dynamically quantized int8
weights (for the CPU); `fp16`, fp16 weights and K/V tensors with fp32 log-probs,
meant for CUDA (it also runs, slowly, on the CPU provider). The decoder reads
its position from the length t of the past cache. The manifest is rewritten so
that its checksums cover the graphs, and records the exported variants.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import Tensor, nn

from translator.bundle import CONFIG, WEIGHTS, build_model, load_state_dict, read_manifest, verify, write_manifest
from translator.config import ModelConfig
from translator.errors import TranslatorError
from translator.model import Transformer

logger = logging.getLogger(__name__)

VARIANTS = ("fp32", "int8", "fp16")
ATTENTION_VARIANTS = ("fp32", "int8")  # variants that also get decoder_attn.onnx
OPSET = 18
ONNX_DIR = "onnx"
ENCODER, DECODER, DECODER_ATTN = "encoder.onnx", "decoder.onnx", "decoder_attn.onnx"


# --- graph signatures, shared with the ONNX Runtime engine ---------------------
def cross_names(layers: int) -> list[str]:
    return [f"cross_{kv}_{i}" for i in range(layers) for kv in "kv"]


def past_names(layers: int) -> list[str]:
    return [f"past_{kv}_{i}" for i in range(layers) for kv in "kv"]


def present_names(layers: int) -> list[str]:
    return [f"present_{kv}_{i}" for i in range(layers) for kv in "kv"]


def encoder_outputs(layers: int) -> list[str]:
    return ["src_mask", *cross_names(layers)]


def decoder_inputs(layers: int) -> list[str]:
    return ["tokens", "src_mask", *cross_names(layers), *past_names(layers)]


def decoder_outputs(layers: int, attention: bool) -> list[str]:
    return ["log_probs", *present_names(layers), *(["cross_attn"] if attention else [])]


def graph_path(model_dir: Path, variant: str, graph: str) -> Path:
    return model_dir / ONNX_DIR / variant / graph


def graphs_of(variant: str) -> list[str]:
    return [ENCODER, DECODER, *([DECODER_ATTN] if variant in ATTENTION_VARIANTS else [])]


# --- traced wrappers -------------------------------------------------------------
class _EncoderGraph(nn.Module):
    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: Tensor) -> tuple[Tensor, ...]:
        memory, mask = self.model.encode(src)
        return (mask, *(t for kv in self.model.cross_kv(memory) for t in kv))


class _DecoderGraph(nn.Module):
    def __init__(self, model: Transformer, attention: bool) -> None:
        super().__init__()
        self.model = model
        self.attention = attention

    def forward(
        self, tokens: Tensor, src_mask: Tensor, cross: tuple[Tensor, ...], past: tuple[Tensor, ...]
    ) -> tuple[Tensor, ...]:
        layers = len(self.model.decoder_layers)
        ckv = [(cross[2 * i], cross[2 * i + 1]) for i in range(layers)]
        cache = [(past[2 * i], past[2 * i + 1]) for i in range(layers)]
        logp, new_cache, attn = self.model.decode_step(tokens, ckv, src_mask, cache, self.attention)
        out = [logp, *(t for kv in new_cache for t in kv)]
        if attn is not None:
            out.append(attn)
        return tuple(out)


class _DropBelowError(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's and the quantizer's chatter (warnings, info logs) while exporting."""
    levels = {
        n: logging.getLogger(n).level for n in ("torch.onnx", "torch.export", "onnxscript", "onnx_ir", "onnxruntime")
    }
    root = logging.getLogger()
    flt, null = _DropBelowError(), logging.NullHandler()
    add_null = not root.handlers  # keeps the quantizer's `logging.warning` from calling basicConfig
    if add_null:
        root.addHandler(null)
    root.addFilter(flt)
    for name in levels:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        root.removeFilter(flt)
        if add_null:
            root.removeHandler(null)


def _example_inputs(cfg: ModelConfig) -> tuple[Tensor, Tensor]:
    """A padded source batch of 3 and 3 previous tokens: no traced dynamic size is 0 or 1."""
    first = max(cfg.pad_id, cfg.unk_id, cfg.bos_id, cfg.eos_id) + 1
    a, b, c = (min(first + i, cfg.vocab_size - 1) for i in range(3))
    eos, pad = cfg.eos_id, cfg.pad_id
    src = torch.tensor([[a, b, c, a, eos], [a, b, eos, pad, pad], [a, b, c, eos, pad]])
    return src, torch.tensor([a, b, c])


def _export_fp32(model: Transformer, out_dir: Path) -> None:
    """encoder.onnx, decoder.onnx and decoder_attn.onnx of the fp32 model into `out_dir`."""
    cfg = model.cfg
    layers = cfg.decoder_layers
    src, tokens = _example_inputs(cfg)
    batch, src_len = torch.export.Dim("batch"), torch.export.Dim("src_len")
    n, past_len = torch.export.Dim("n"), torch.export.Dim("past_len", min=0)
    with torch.no_grad():
        memory, mask = model.encode(src)
        cross = tuple(t for kv in model.cross_kv(memory) for t in kv)
        # a cache of 2 earlier steps, so that no traced size is 0 or 1
        _, cache, _ = model.decode_step(tokens, model.cross_kv(memory), mask, model.empty_cache(3))
        _, cache, _ = model.decode_step(tokens, model.cross_kv(memory), mask, cache)
    past = tuple(t for kv in cache for t in kv)
    try:
        program = torch.onnx.export(
            _EncoderGraph(model).eval(),
            (src,),
            input_names=["src"],
            output_names=encoder_outputs(layers),
            dynamic_shapes=({0: batch, 1: src_len},),
            opset_version=OPSET,
            external_data=False,
            dynamo=True,
            verbose=False,
        )
        assert program is not None
        program.save(str(out_dir / ENCODER))
        for attention, name in ((False, DECODER), (True, DECODER_ATTN)):
            program = torch.onnx.export(
                _DecoderGraph(model, attention).eval(),
                (tokens, mask, cross, past),
                input_names=decoder_inputs(layers),
                output_names=decoder_outputs(layers, attention),
                dynamic_shapes=(
                    {0: n},
                    {0: n, 3: src_len},
                    tuple({0: n, 2: src_len} for _ in cross),
                    tuple({0: n, 2: past_len} for _ in past),
                ),
                opset_version=OPSET,
                external_data=False,
                dynamo=True,
                verbose=False,
            )
            assert program is not None
            program.save(str(out_dir / name))
    except Exception as exc:  # the exporter raises many types; report one clear error
        raise TranslatorError(f"ONNX export failed: {type(exc).__name__}: {exc}") from exc


def _strip_debug_info(path: Path) -> None:
    """Drop the exporter's per-node debug metadata (source file paths, FX node text):
    it carries paths of the exporting machine and is not needed to run the graph."""
    model = onnx.load(str(path))
    for node in model.graph.node:
        node.doc_string = ""
        del node.metadata_props[:]
    onnx.save(model, str(path))


def _quantize_int8(src_dir: Path, out_dir: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer writes scratch files (shape inference, external data) into the
    # working directory: run it inside the export's own scratch directory.
    src_dir, out_dir = src_dir.resolve(), out_dir.resolve()
    with contextlib.chdir(out_dir.parent):
        for name in graphs_of("int8"):
            quantize_dynamic(src_dir / name, out_dir / name, weight_type=QuantType.QInt8)


def _toposort(graph: onnx.GraphProto) -> None:
    """Reorder nodes so that each comes after its inputs (the fp16 converter may insert casts out of order)."""
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for node in pending:
            if all(i in known for i in node.input):
                ordered.append(node)
                known.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise TranslatorError("fp16 conversion produced a graph with unresolved inputs")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)


def _convert_fp16(src_dir: Path, out_dir: Path) -> None:
    """fp16 weights, activations and K/V; log-probs stay fp32 (LogSoftmax runs in fp32)."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    for name in graphs_of("fp16"):
        model = onnx.load(str(src_dir / name))
        half = convert_float_to_float16(
            model, keep_io_types=["log_probs"], op_block_list=[*DEFAULT_OP_BLOCK_LIST, "LogSoftmax"]
        )
        _toposort(half.graph)
        onnx.save(half, str(out_dir / name))


def _check_graphs(out_dir: Path, variant: str) -> None:
    for name in graphs_of(variant):
        try:
            onnx.checker.check_model(str(out_dir / name), full_check=True)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
            raise TranslatorError(f"exported {variant}/{name} fails the ONNX checker: {exc}") from None


def _check_against_torch(model: Transformer, fp32_dir: Path, steps: int = 3) -> float:
    """Largest |log-prob difference| between the fp32 graphs and PyTorch over a few steps."""
    import onnxruntime as ort

    cfg = model.cfg
    layers = cfg.decoder_layers
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    enc = ort.InferenceSession(str(fp32_dir / ENCODER), opts, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(fp32_dir / DECODER), opts, providers=["CPUExecutionProvider"])
    src, tokens = _example_inputs(cfg)
    src = src[:2]
    tokens = tokens[:2]
    enc_out = dict(zip(encoder_outputs(layers), enc.run(None, {"src": src.numpy()}), strict=True))
    nh, hs = cfg.n_heads, cfg.d_model // cfg.n_heads
    past = {name: np.zeros((2, nh, 0, hs), np.float32) for name in past_names(layers)}
    worst = 0.0
    with torch.no_grad():
        memory, mask = model.encode(src)
        ckv = model.cross_kv(memory)
        cache = model.empty_cache(2)
        tok = torch.full((2,), cfg.bos_id)
        for _ in range(steps):
            logp, cache, _ = model.decode_step(tok, ckv, mask, cache)
            feeds = {"tokens": tok.numpy(), **enc_out, **past}
            out = dict(zip(decoder_outputs(layers, False), dec.run(None, feeds), strict=True))
            worst = max(worst, float(np.abs(out["log_probs"] - logp.numpy()).max()))
            past = {p: out[q] for p, q in zip(past_names(layers), present_names(layers), strict=True)}
            tok = tokens
    return worst


def _load_model(model_dir: Path) -> tuple[Transformer, dict[str, Any]]:
    """The bundle's model; checks every non-ONNX file against the manifest (ONNX files get rewritten)."""
    manifest = read_manifest(model_dir)
    own = {k: v for k, v in manifest.get("files", {}).items() if not k.startswith(f"{ONNX_DIR}/")}
    verify(model_dir, {"files": own})
    cfg = ModelConfig.load(model_dir / CONFIG)
    model = build_model(cfg, load_state_dict(model_dir / WEIGHTS), model_dir / WEIGHTS)
    return model, manifest


def parse_variants(variants: str | list[str]) -> list[str]:
    items = variants.split(",") if isinstance(variants, str) else list(variants)
    out: list[str] = []
    for v in (s.strip() for s in items):
        if v not in VARIANTS:
            raise TranslatorError(f"unknown ONNX variant {v!r}; choose from {', '.join(VARIANTS)}")
        if v not in out:
            out.append(v)
    if not out:
        raise TranslatorError(f"no ONNX variant given; choose from {', '.join(VARIANTS)}")
    return out


def export_bundle(model_dir: Path, variants: list[str]) -> dict[str, Any]:
    """Write `onnx/<variant>/*.onnx` for each variant into the bundle and update its manifest.

    Returns the manifest entries written: `variants` (all variants now in the
    bundle) and `onnx` (opset, graph names and per-variant details).
    """
    model_dir = Path(model_dir)
    wanted = parse_variants(variants)
    model, manifest = _load_model(model_dir)
    root = model_dir / ONNX_DIR
    root.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=root))  # same filesystem: moved into place at the end
    try:
        fp32_dir = work / "fp32"
        fp32_dir.mkdir()
        with _quiet():
            logger.info("exporting fp32 graphs of %s (opset %d)", model_dir, OPSET)
            _export_fp32(model, fp32_dir)
            for path in sorted(fp32_dir.glob("*.onnx")):
                _strip_debug_info(path)
            _check_graphs(fp32_dir, "fp32")
            diff = _check_against_torch(model, fp32_dir)
            if not diff < 1e-3:
                raise TranslatorError(f"exported graphs do not reproduce the PyTorch model (max |Δ log-prob| {diff:g})")
            if "int8" in wanted:
                logger.info("quantizing int8 graphs")
                (work / "int8").mkdir()
                _quantize_int8(fp32_dir, work / "int8")
                _check_graphs(work / "int8", "int8")
            if "fp16" in wanted:
                logger.info("converting fp16 graphs")
                (work / "fp16").mkdir()
                _convert_fp16(fp32_dir, work / "fp16")
                _check_graphs(work / "fp16", "fp16")
        for v in wanted:
            target = root / v
            if target.exists():
                shutil.rmtree(target)
            (work / v).rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    old_variants = [v for v in manifest.get("variants", []) if v in VARIANTS and (root / v).is_dir()]
    present = [v for v in VARIANTS if v in wanted or v in old_variants]
    info = {
        "opset": OPSET,
        "dir": ONNX_DIR,
        "encoder": ENCODER,
        "decoder": DECODER,
        "decoder_attention": DECODER_ATTN,
        "variants": {
            v: {"graphs": graphs_of(v), "device": "cuda" if v == "fp16" else "cpu", "kv_dtype": _kv_dtype(v)}
            for v in present
        },
        "exported_with": {"torch": torch.__version__, "onnx": onnx.__version__},
        "max_logprob_diff_fp32": diff,
    }
    write_manifest(model_dir, {"variants": present, "onnx": info})
    return {"variants": present, "onnx": info}


def _kv_dtype(variant: str) -> str:
    return "float16" if variant == "fp16" else "float32"


def run_export(model_dir: str | Path, variants: str | list[str] = "fp32,int8,fp16") -> dict[str, Any]:
    """The `translator export` command: export, then a summary (variants, opset, graph files)."""
    model_dir = Path(model_dir)
    result = export_bundle(model_dir, parse_variants(variants))
    files = [
        graph_path(model_dir, v, g).relative_to(model_dir).as_posix() for v in result["variants"] for g in graphs_of(v)
    ]
    return {"model": str(model_dir), "variants": result["variants"], "opset": OPSET, "files": files}
