"""Does int8 pay on this CPU? One ONNX MatMul per shape of the model's decoder, fp32
against the two int8 formats ONNX Runtime offers, side by side in one run.

    python scripts/bench_int8_matmul.py [--model models/default] [--rows 160,32] [--out PREFIX]

Formats: `fp32` (MatMul); `dynamic-int8` (quantize_dynamic with int8 weights, what
`translator export` ships: DynamicQuantizeMatMul); `nbits8-acc4` and `nbits8-acc0`
(MatMulNBits, 8-bit weights in blocks of 32, int8 or fp32 compute). Rows 160 = beam 5 x
batch 32, 32 = greedy x batch 32. Prints microseconds per call (best of `--repeats`
blocks) and the speed of each format relative to fp32 (>1 is faster).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

from translator.bench import machine_info, machine_line
from translator.config import ModelConfig


def matmul_graph(k: int, n: int, path: Path, rng: np.random.Generator) -> None:
    weight = (rng.standard_normal((k, n)) * k**-0.5).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", n])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, path)


def nbits8(accuracy_level: int) -> Callable[[Path, Path], None]:
    def convert(src: Path, dst: Path) -> None:
        config = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True, accuracy_level=accuracy_level, bits=8)
        quantizer = MatMulNBitsQuantizer(onnx.load(src), algo_config=config)
        quantizer.process()
        onnx.save(quantizer.model.model, dst)

    return convert


FORMATS: dict[str, Callable[[Path, Path], None] | None] = {
    "fp32": None,
    "dynamic-int8": lambda src, dst: quantize_dynamic(src, dst, weight_type=QuantType.QInt8),
    "nbits8-acc4": nbits8(4),
    "nbits8-acc0": nbits8(0),
}


def time_session(session: ort.InferenceSession, x: np.ndarray, calls: int, repeats: int) -> float:
    for _ in range(5):
        session.run(None, {"x": x})
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            session.run(None, {"x": x})
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/default", help="bundle whose config.json gives the shapes")
    ap.add_argument("--rows", default="160,32", help="rows of the activations (hypotheses per step)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", help="also write PREFIX.json and PREFIX.md")
    args = ap.parse_args()
    cfg = ModelConfig.load(Path(args.model) / "config.json")
    shapes = {
        "d->V (output)": (cfg.d_model, cfg.vocab_size),
        "d->ff": (cfg.d_model, cfg.d_ff),
        "ff->d": (cfg.d_ff, cfg.d_model),
        "d->d (attention)": (cfg.d_model, cfg.d_model),
    }
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    rng = np.random.default_rng(0)
    rows_out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, (k, n) in shapes.items():
            base = Path(tmp) / f"{k}x{n}.onnx"
            matmul_graph(k, n, base, rng)
            sessions = {}
            for name, convert in FORMATS.items():
                path = base if convert is None else base.with_suffix(f".{name}.onnx")
                if convert is not None:
                    convert(base, path)
                sessions[name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            for m in (int(r) for r in args.rows.split(",")):
                x = rng.standard_normal((m, k)).astype(np.float32)
                us = {name: time_session(s, x, args.calls, args.repeats) for name, s in sessions.items()}
                rows_out.append({"gemm": label, "k": k, "n": n, "rows": m, "us": us})
    cpu = machine_line(machine_info())
    names = list(FORMATS)
    md = [
        "# int8 against fp32 matrix multiplies in ONNX Runtime",
        "",
        f"`python scripts/bench_int8_matmul.py --model {args.model} --rows {args.rows} --threads {args.threads}"
        + (f" --out {args.out}`" if args.out else "`"),
        "",
        f"{cpu}; onnxruntime {ort.__version__}; microseconds per call (best of {args.repeats} blocks of "
        f"{args.calls}); ×fp32 = fp32 time / format time (>1 is faster than fp32).",
        "",
        "| GEMM | k×n | rows | " + " | ".join(f"{n} µs" for n in names) + " | "
        + " | ".join(f"{n} ×fp32" for n in names[1:]) + " |",
        "|---|---|---|" + "---|" * (2 * len(names) - 1),
    ]  # fmt: skip
    for r in rows_out:
        us = r["us"]
        md.append(
            f"| {r['gemm']} | {r['k']}×{r['n']} | {r['rows']} | "
            + " | ".join(f"{us[n]:.0f}" for n in names)
            + " | "
            + " | ".join(f"{us['fp32'] / us[n]:.2f}" for n in names[1:])
            + " |"
        )
    text = "\n".join(md) + "\n"
    print(text)
    if args.out:
        Path(f"{args.out}.md").write_text(text, encoding="utf-8")
        payload = {"cpu": cpu, "onnxruntime": ort.__version__, "threads": args.threads, "results": rows_out}
        Path(f"{args.out}.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
