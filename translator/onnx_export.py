"""Export a bundle's model to ONNX graphs for the ONNX Runtime engine.

Inside the bundle, one folder per variant:

    onnx/<variant>/encoder.onnx       src (B, S) int64 -> src_mask (B, 1, 1, S) bool and,
                                      per decoder layer i, cross_k_i (B, nh, hs, S) / cross_v_i (B, nh, S, hs)
    onnx/<variant>/decoder.onnx       one step: tokens (N,) int64, top_k (1,) int64, beam_index (N,) int64
                                      (row n continues the cache row beam_index[n]: beam search's reorder
                                      happens here), src_mask, cross_k_i / cross_v_i with G rows, one per
                                      sentence, whose N = G*r hypotheses come as r consecutive rows,
                                      past_k_i (M, nh, hs, t) / past_v_i (M, nh, t, hs)
                                      -> top_log_probs (N, top_k) fp32 and top_ids (N, top_k) int64 (each
                                      row's best next tokens, best first), eos_log_probs (N,) fp32,
                                      present_k_i / present_v_i (t+1 steps), and cross_attn (N, L, nh, S),
                                      the cross-attention probabilities, which a caller requests only when
                                      it wants them (ONNX Runtime copies out only requested outputs)

Keys are stored transposed (`KEY_LAYOUT`), so that no decoding step transposes
its cached keys, and the output projection has its own (D, V) weight, a copy of
the tied embedding, so that int8 quantization turns it into an int8 MatMul
instead of dequantizing the shared embedding at every step. The top-k selection
runs inside the graph (a TopK node added after export): search needs no more than
that, and the (N, V) log-probabilities never leave the runtime. So does the cache
reorder of beam search (Gather nodes on the past inputs, also added after export),
multi-threaded in the runtime's arena instead of a copy in Python between steps.

Variants: `fp32`; `int8`, the fp32 graphs with dynamically quantized int8
weights, for the CPU (`--int8-rows`: each MatMul's input quantized row by row,
`per_row_activations`, so that a sentence's translation does not depend on its
batch); `fp16`, fp16
weights and K/V tensors with fp32 log-probs, meant for CUDA (it also runs,
slowly, on the CPU provider). The decoder reads its position from the length t
of the past cache. The manifest is rewritten so that its checksums cover the
graphs, and records the exported variants.
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
OPSET = 18
KEY_LAYOUT = "nh-hs-t"  # keys (N, nh, hs, t); values (N, nh, t, hs). Recorded in the manifest.
# Recorded in the manifest. 2: top-k and cache reorder inside the decoder;
# 3: src_mask/cross_* hold one row per sentence, shared by its hypotheses.
GRAPH_FORMAT = 3
ONNX_DIR = "onnx"
ENCODER, DECODER = "encoder.onnx", "decoder.onnx"


# --- graph signatures, shared with the ONNX Runtime engine ---------------------
def cross_names(layers: int) -> list[str]:
    return [f"cross_{kv}_{i}" for i in range(layers) for kv in "kv"]


def past_names(layers: int) -> list[str]:
    return [f"past_{kv}_{i}" for i in range(layers) for kv in "kv"]


def present_names(layers: int) -> list[str]:
    return [f"present_{kv}_{i}" for i in range(layers) for kv in "kv"]


def encoder_outputs(layers: int) -> list[str]:
    return ["src_mask", *cross_names(layers)]


TOP_OUTPUTS = ["top_log_probs", "top_ids", "eos_log_probs"]


ADDED_INPUTS = ("top_k", "beam_index")  # inputs that `_add_top_k` / `_add_cache_gather` add after tracing


def decoder_inputs(layers: int) -> list[str]:
    return ["tokens", *ADDED_INPUTS, "src_mask", *cross_names(layers), *past_names(layers)]


def decoder_outputs(layers: int, attention: bool) -> list[str]:
    return [*TOP_OUTPUTS, *present_names(layers), *(["cross_attn"] if attention else [])]


def _traced_decoder_outputs(layers: int) -> list[str]:
    """What the traced module returns, before `_add_top_k` replaces log_probs."""
    return ["log_probs", *present_names(layers), "cross_attn"]


def state_shape(name: str, n: int, n_heads: int, head_dim: int, length: int) -> tuple[int, int, int, int]:
    """Shape of a cross/past/present tensor: keys (n, nh, hs, length), values (n, nh, length, hs)."""
    is_key = name.split("_")[-2] == "k"
    return (n, n_heads, head_dim, length) if is_key else (n, n_heads, length, head_dim)


def graphs_are_current(manifest: dict[str, Any]) -> bool:
    """Were the bundle's graphs exported in the layout and format this version reads?"""
    info = manifest.get("onnx", {})
    return bool(info.get("key_layout") == KEY_LAYOUT and info.get("graph_format") == GRAPH_FORMAT)


def graph_path(model_dir: Path, variant: str, graph: str) -> Path:
    return model_dir / ONNX_DIR / variant / graph


def graphs_of(variant: str) -> list[str]:
    return [ENCODER, DECODER]


# --- traced wrappers -------------------------------------------------------------
class _EncoderGraph(nn.Module):
    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: Tensor) -> tuple[Tensor, ...]:
        memory, mask = self.model.encode(src)
        return (mask, *(t for kv in self.model.cross_kv(memory, k_transposed=True) for t in kv))


class _DecoderGraph(nn.Module):
    out_weight: Tensor

    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("out_weight", model.embed.weight.detach().t().contiguous())  # (D, V), untied copy

    def forward(
        self, tokens: Tensor, src_mask: Tensor, cross: tuple[Tensor, ...], past: tuple[Tensor, ...]
    ) -> tuple[Tensor, ...]:
        layers = len(self.model.decoder_layers)
        ckv = [(cross[2 * i], cross[2 * i + 1]) for i in range(layers)]
        cache = [(past[2 * i], past[2 * i + 1]) for i in range(layers)]
        h, new_cache, attn = self.model.step_hidden(tokens, ckv, src_mask, cache, True, k_transposed=True)
        logp = (h @ self.out_weight).float().log_softmax(dim=-1)
        assert attn is not None
        return (logp, *(t for kv in new_cache for t in kv), attn)


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
    """A padded source batch of 3 and 6 previous tokens (2 hypotheses per sentence):
    no traced dynamic size is 0 or 1, and the decoder is traced with fewer
    sentences than hypotheses."""
    first = max(cfg.pad_id, cfg.unk_id, cfg.bos_id, cfg.eos_id) + 1
    a, b, c = (min(first + i, cfg.vocab_size - 1) for i in range(3))
    eos, pad = cfg.eos_id, cfg.pad_id
    src = torch.tensor([[a, b, c, a, eos], [a, b, eos, pad, pad], [a, b, c, eos, pad]])
    return src, torch.tensor([a, b, c, c, a, b])


def _export_traced(model: Transformer, out_dir: Path) -> None:
    """encoder.onnx and decoder.onnx of the fp32 model into `out_dir`,
    as traced: the decoders still output log_probs (N, V) (see `_add_top_k`)."""
    cfg = model.cfg
    layers = cfg.decoder_layers
    src, tokens = _example_inputs(cfg)
    batch, src_len = torch.export.Dim("batch"), torch.export.Dim("src_len")
    n, past_len = torch.export.Dim("n"), torch.export.Dim("past_len", min=0)
    with torch.no_grad():
        memory, mask = model.encode(src)
        ckv = model.cross_kv(memory, k_transposed=True)
        cross = tuple(t for kv in ckv for t in kv)
        # a cache of 2 earlier steps, so that no traced size is 0 or 1
        cache = model.empty_cache(len(tokens), k_transposed=True)
        for _ in range(2):
            _, cache, _ = model.step_hidden(tokens, ckv, mask, cache, k_transposed=True)
    past = tuple(t for kv in cache for t in kv)
    key_axis = {"k": 3, "v": 2}
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
        program = torch.onnx.export(
            _DecoderGraph(model).eval(),
            (tokens, mask, cross, past),
            input_names=[n for n in decoder_inputs(layers) if n not in ADDED_INPUTS],
            output_names=_traced_decoder_outputs(layers),
            dynamic_shapes=(
                {0: n},
                {0: batch, 3: src_len},
                tuple({0: batch, key_axis[name.split("_")[1]]: src_len} for name in cross_names(layers)),
                tuple({0: n, key_axis[name.split("_")[1]]: past_len} for name in past_names(layers)),
            ),
            opset_version=OPSET,
            external_data=False,
            dynamo=True,
            verbose=False,
        )
        assert program is not None
        program.save(str(out_dir / DECODER))
    except Exception as exc:  # the exporter raises many types; report one clear error
        raise TranslatorError(f"ONNX export failed: {type(exc).__name__}: {exc}") from exc


def _add_top_k(path: Path, eos_id: int) -> None:
    """Replace the decoder's log_probs output by its per-row top k (k a graph input)
    and the log-probability of EOS."""
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    graph = model.graph
    [log_probs] = [o for o in graph.output if o.name == "log_probs"]
    position = list(graph.output).index(log_probs)
    graph.output.remove(log_probs)
    graph.input.insert(1, helper.make_tensor_value_info("top_k", TensorProto.INT64, [1]))
    graph.initializer.append(helper.make_tensor("eos_index", TensorProto.INT64, [], [eos_id]))
    graph.node.extend(
        [
            helper.make_node("TopK", ["log_probs", "top_k"], TOP_OUTPUTS[:2], name="top_k_select", axis=-1),
            helper.make_node("Gather", ["log_probs", "eos_index"], TOP_OUTPUTS[2:], name="eos_log_prob", axis=1),
        ]
    )
    new_outputs = [
        helper.make_tensor_value_info("top_log_probs", TensorProto.FLOAT, ["n", "top_k"]),
        helper.make_tensor_value_info("top_ids", TensorProto.INT64, ["n", "top_k"]),
        helper.make_tensor_value_info("eos_log_probs", TensorProto.FLOAT, ["n"]),
    ]
    for i, value in enumerate(new_outputs):
        graph.output.insert(position + i, value)
    onnx.save(model, str(path))


def _add_cache_gather(path: Path, layers: int) -> None:
    """Gather the past inputs' rows by `beam_index` before anything reads them."""
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    graph = model.graph
    renamed = {name: f"{name}_reordered" for name in past_names(layers)}
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name in renamed:
                node.input[k] = renamed[name]
    gathers = [helper.make_node("Gather", [old, "beam_index"], [new], name=f"reorder_{old}", axis=0)
               for old, new in renamed.items()]  # fmt: skip
    nodes = [*gathers, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.input.insert(2, helper.make_tensor_value_info("beam_index", TensorProto.INT64, ["n"]))
    onnx.save(model, str(path))


def _strip_debug_info(path: Path) -> None:
    """Drop the exporter's per-node debug metadata (source file paths, FX node text):
    it carries paths of the exporting machine and is not needed to run the graph."""
    model = onnx.load(str(path))
    for node in model.graph.node:
        node.doc_string = ""
        del node.metadata_props[:]
    onnx.save(model, str(path))


def _quantize_int8(src_dir: Path, out_dir: Path, per_row: bool) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer writes scratch files (shape inference, external data) into the
    # working directory: run it inside the export's own scratch directory.
    src_dir, out_dir = src_dir.resolve(), out_dir.resolve()
    with contextlib.chdir(out_dir.parent):
        for name in graphs_of("int8"):
            quantize_dynamic(src_dir / name, out_dir / name, weight_type=QuantType.QInt8)
            if per_row:
                model = onnx.load(str(out_dir / name))
                per_row_activations(model)
                onnx.save(model, str(out_dir / name))


def _fuse_row_scaled_matmuls(graph: onnx.GraphProto) -> int:
    """Each int8 product the quantizer wrote, MatMulInteger(x_q, w_q) -> Cast -> Mul(x_scale *
    w_scale), as ONNX Runtime's fused MatMulIntegerToFloat with the weight scale, then a Mul
    by x_scale; returns how many. With x_scale a row scale (`per_row_activations`), ONNX
    Runtime's own fusion of the first form reads it as one number (its outputs were 7x
    further from fp32 than per tensor) and, unfused, the product runs as three kernels."""
    from onnx import helper

    quantized = {n.output[0]: n.output[1] for n in graph.node if n.op_type == "DynamicQuantizeLinear"}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    producer = {o: n for n in graph.node for o in n.output}
    replaced: dict[int, list[onnx.NodeProto]] = {}  # id of the node each replacement takes the place of
    dropped: set[int] = set()
    for n in graph.node:
        if n.op_type != "MatMulInteger" or n.input[0] not in quantized:
            continue
        x_scale = quantized[n.input[0]]
        cast = _only(consumers.get(n.output[0], []), "Cast")
        mul = _only(consumers.get(cast.output[0], []), "Mul") if cast else None
        product = producer.get(next((i for i in mul.input if i != cast.output[0]), "")) if cast and mul else None
        if not cast or not mul or not product or x_scale not in product.input:
            raise TranslatorError(f"int8 export: {n.output[0]} is not MatMulInteger -> Cast -> Mul(scales)")
        w_scale = next(i for i in product.input if i != x_scale)
        a_zero, w_zero = n.input[2], n.input[3]
        unscaled = mul.output[0] + "_rowq_unscaled"
        inputs = [n.input[0], n.input[1], "rowq_unit", w_scale, a_zero, w_zero]
        replaced[id(n)] = [
            helper.make_node("MatMulIntegerToFloat", inputs, [unscaled], domain="com.microsoft"),
            helper.make_node("Mul", [unscaled, x_scale], [mul.output[0]]),
        ]
        dropped |= {id(cast), id(mul), id(product)}
    nodes = [r for n in graph.node if id(n) not in dropped for r in replaced.get(id(n), [n])]
    del graph.node[:]
    graph.node.extend(nodes)
    return len(replaced)


def _only(nodes: list[onnx.NodeProto], op_type: str) -> onnx.NodeProto | None:
    return nodes[0] if len(nodes) == 1 and nodes[0].op_type == op_type else None


def per_row_activations(model: onnx.ModelProto) -> int:
    """Quantize the input of every int8 MatMul row by row instead of as one tensor; returns
    how many quantizations it rewrote.

    ONNX Runtime's dynamic quantization (`DynamicQuantizeLinear`) gives the whole input one
    scale, from the largest value in the batch, so a sentence's translation depends on the
    other sentences batched with it: 61 of the 1,000 test_2016_flickr translations of the
    default model change between batches of up to 32 and of up to 3
    (`scripts/bench_int8_rows.py`), and a server, whose batches are whatever requests arrive
    together, can give the same text different translations. Here each
    row (a source token, a hypothesis) has its own scale, max |x| / 127 over its last axis, and
    is quantized to uint8 around the zero point 128 (the u8 x s8 kernels' input), by
    `QuantizeLinear`: a row's result depends on that row only, as in CTranslate2. The output of
    a ReLU, never negative, has max x / 255 and the zero point 0 instead: all 256 levels. (A
    row of zeros gets scale 0: whatever it quantizes to, its products are scaled by 0.) The
    decoder step's inputs, (n, 1, K), are quantized as they are; the encoder's, (batch,
    length, K), as a (M, K) matrix."""
    from onnx import helper, numpy_helper, shape_inference

    graph = model.graph
    inferred = shape_inference.infer_shapes(model).graph
    known = {v.name: v.type.tensor_type.shape.dim for v in [*inferred.value_info, *inferred.input]}
    constants: dict[str, np.ndarray] = {
        "rowq_127": np.array(127.0, dtype=np.float32),
        "rowq_255": np.array(255.0, dtype=np.float32),
        "rowq_128": np.array([128], dtype=np.uint8),
    }

    def constant(name: str, value: np.ndarray) -> str:
        constants.setdefault(name, value)
        return name

    relu = {o for n in graph.node if n.op_type == "Relu" for o in n.output}
    fused = _fuse_row_scaled_matmuls(graph)
    nodes, rewritten = [], 0
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        x, (q, scale, zero_point) = node.input[0], node.output
        dims = known.get(x)
        if not dims or not dims[-1].HasField("dim_value"):
            raise TranslatorError(f"int8 export: the width of {x}, an int8 MatMul's input, is not known")
        rank, p = len(dims), f"rowq{rewritten}_"
        if all(d.HasField("dim_value") and d.dim_value == 1 for d in dims[1:-1]):
            # (n, 1, K), (n, K): the rows are along the first axis; the input is quantized as it is
            rows, quantized = x, q
            axes = constant(f"rowq_axes_{rank}", np.arange(1, rank, dtype=np.int64))
            scale_shape = constant(f"rowq_scale_shape_{rank}", np.array([-1, *[1] * (rank - 1)], dtype=np.int64))
            before, after = [], []
        else:  # (batch, length, K): quantized as (M, K) rows, then given its shape again
            rows, quantized, scale_shape = p + "rows", p + "q", p + "scale_shape"
            axes = constant("rowq_axes_2", np.array([1], dtype=np.int64))
            width = constant(f"rowq_rows_{dims[-1].dim_value}", np.array([-1, dims[-1].dim_value], dtype=np.int64))
            one = constant("rowq_one", np.array([1], dtype=np.int64))
            before = [
                helper.make_node("Shape", [x], [p + "shape"]),
                helper.make_node("Shape", [x], [p + "lead"], end=-1),
                helper.make_node("Concat", [p + "lead", one], [scale_shape], axis=0),
                helper.make_node("Reshape", [x, width], [rows]),
            ]
            after = [helper.make_node("Reshape", [quantized, p + "shape"], [q])]
        if x in relu:  # never negative: [0, max] over all 256 levels, zero point 0
            quantize = [
                helper.make_node("ReduceMax", [rows, axes], [p + "max"], keepdims=0),
                helper.make_node("Div", [p + "max", "rowq_255"], [p + "scales"]),  # (M,)
                helper.make_node("QuantizeLinear", [rows, p + "scales"], [quantized], axis=0),
            ]
            zero = 0
        else:  # [-max, max] around 128
            quantize = [
                helper.make_node("Abs", [rows], [p + "abs"]),
                helper.make_node("ReduceMax", [p + "abs", axes], [p + "max"], keepdims=0),
                helper.make_node("Div", [p + "max", "rowq_127"], [p + "scales"]),  # (M,)
                helper.make_node("Shape", [p + "scales"], [p + "m"]),
                helper.make_node("Expand", ["rowq_128", p + "m"], [p + "zeros"]),  # QuantizeLinear: one per row
                helper.make_node("QuantizeLinear", [rows, p + "scales", p + "zeros"], [quantized], axis=0),
            ]
            zero = 128
        nodes += [
            *before,
            *quantize,
            *after,
            helper.make_node("Reshape", [p + "scales", scale_shape], [scale]),  # (..., 1): scales the products
        ]
        # the MatMulInteger nodes read the zero point as one scalar, the same for every row
        graph.initializer.append(numpy_helper.from_array(np.array(zero, dtype=np.uint8), zero_point))
        rewritten += 1
    if rewritten:
        constants["rowq_unit"] = np.array(1.0, dtype=np.float32)  # the input scale of the fused products
        if fused and not any(o.domain == "com.microsoft" for o in model.opset_import):
            model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
        graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in constants.items())
        del graph.node[:]
        graph.node.extend(nodes)
    return rewritten


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
    """Largest |log-prob difference| between the fp32 graphs and PyTorch over a few steps
    (all V log-probabilities: the graph's top k with k = V, scattered back by id).
    The graph gets 2 sentences with 2 hypotheses each; PyTorch gets one copy of the
    source-side tensors per hypothesis, so the graph's grouped cross-attention is
    checked against plain attention."""
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
    beams = 2
    src = src[:2]
    rows = beams * len(src)
    tokens = tokens[:rows]
    enc_out = dict(zip(encoder_outputs(layers), enc.run(None, {"src": src.numpy()}), strict=True))
    nh, hs = cfg.n_heads, cfg.d_model // cfg.n_heads
    past = {name: np.zeros(state_shape(name, rows, nh, hs, 0), np.float32) for name in past_names(layers)}
    worst = 0.0
    with torch.no_grad():
        memory, mask = model.encode(src.repeat_interleave(beams, dim=0))
        ckv = model.cross_kv(memory)
        cache = model.empty_cache(rows)
        tok = torch.full((rows,), cfg.bos_id)
        for _ in range(steps):
            logp, cache, _ = model.decode_step(tok, ckv, mask, cache)
            feeds = {"tokens": tok.numpy(), "top_k": np.array([cfg.vocab_size]), "beam_index": np.arange(rows)}
            feeds |= enc_out
            feeds |= past
            names = decoder_outputs(layers, False)
            out = dict(zip(names, dec.run(names, feeds), strict=True))
            full = np.take_along_axis(logp.numpy(), out["top_ids"], axis=1)
            worst = max(worst, float(np.abs(out["top_log_probs"] - full).max()))
            worst = max(worst, float(np.abs(out["eos_log_probs"] - logp[:, cfg.eos_id].numpy()).max()))
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


def _remove_stale_exports(root: Path) -> None:
    """Remove `.export-*` work dirs left by an export that was killed (ours; only one export runs at a time)."""
    for stale in root.glob(".export-*"):
        if stale.is_dir():
            logger.info("removing %s, left by an interrupted export", stale)
            shutil.rmtree(stale, ignore_errors=True)


def export_bundle(model_dir: Path, variants: list[str], int8_rows: bool = False) -> dict[str, Any]:
    """Write `onnx/<variant>/*.onnx` for each variant into the bundle and update its manifest.

    Returns the manifest entries written: `variants` (all variants now in the
    bundle) and `onnx` (opset, graph names and per-variant details). `int8_rows`:
    the int8 graphs quantize their activations row by row (`per_row_activations`:
    a translation does not depend on its batch, at 1.1-1.3x the time) instead of
    with ONNX Runtime's one scale per tensor; the manifest records which
    (`int8_activations`).
    """
    model_dir = Path(model_dir)
    wanted = parse_variants(variants)
    model, manifest = _load_model(model_dir)
    root = model_dir / ONNX_DIR
    root.mkdir(exist_ok=True)
    _remove_stale_exports(root)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=root))  # same filesystem: moved into place at the end
    try:
        traced, fp32_dir = work / "traced", work / "fp32"
        traced.mkdir()
        with _quiet():
            logger.info("exporting fp32 graphs of %s (opset %d)", model_dir, OPSET)
            _export_traced(model, traced)
            for path in sorted(traced.glob("*.onnx")):
                _strip_debug_info(path)
            shutil.copytree(traced, fp32_dir)
            if "int8" in wanted:
                logger.info("quantizing int8 graphs")
                (work / "int8").mkdir()
                _quantize_int8(traced, work / "int8", int8_rows)
            if "fp16" in wanted:
                logger.info("converting fp16 graphs")
                (work / "fp16").mkdir()
                _convert_fp16(traced, work / "fp16")
            for v in ("fp32", *(v for v in wanted if v != "fp32")):
                _add_top_k(work / v / DECODER, model.cfg.eos_id)
                _add_cache_gather(work / v / DECODER, model.cfg.decoder_layers)
                _check_graphs(work / v, v)
            diff = _check_against_torch(model, fp32_dir)
            if not diff < 1e-3:
                raise TranslatorError(f"exported graphs do not reproduce the PyTorch model (max |Δ log-prob| {diff:g})")
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
        "decoder_outputs": decoder_outputs(model.cfg.decoder_layers, True),
        "key_layout": KEY_LAYOUT,
        "graph_format": GRAPH_FORMAT,
        "variants": {
            v: {"graphs": graphs_of(v), "device": "cuda" if v == "fp16" else "cpu", "kv_dtype": _kv_dtype(v)}
            | ({"int8_activations": "per-row" if int8_rows else "per-tensor"} if v == "int8" and v in wanted else {})
            for v in present
        },
        "exported_with": {"torch": torch.__version__, "onnx": onnx.__version__},
        "max_logprob_diff_fp32": diff,
    }
    write_manifest(model_dir, {"variants": present, "onnx": info})
    return {"variants": present, "onnx": info}


def _kv_dtype(variant: str) -> str:
    return "float16" if variant == "fp16" else "float32"


def run_export(
    model_dir: str | Path, variants: str | list[str] = "fp32,int8,fp16", int8_rows: bool = False
) -> dict[str, Any]:
    """The `translator export` command: export, then a summary (variants, opset, graph files)."""
    model_dir = Path(model_dir)
    result = export_bundle(model_dir, parse_variants(variants), int8_rows)
    files = [
        graph_path(model_dir, v, g).relative_to(model_dir).as_posix() for v in result["variants"] for g in graphs_of(v)
    ]
    return {"model": str(model_dir), "variants": result["variants"], "opset": OPSET, "files": files}
