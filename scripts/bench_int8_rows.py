"""int8 activations quantized by row against by tensor: speed, BLEU, and batch invariance, side by side.

    python scripts/bench_int8_rows.py --model models/default --out reports/int8_rows

ONNX Runtime's dynamic quantization gives each int8 MatMul's input one scale for the whole
batch; `translator export --int8-rows` rewrites it to one scale per row
(`per_row_activations`), so that a sentence's translation does not depend on what it is
batched with. This script exports
the model's int8 graphs both ways into scratch copies of the bundle and, on
test_2016_flickr with the ONNX Runtime engine and 2 threads, measures for each:

- time: beam 5 in batches of up to 32 sentences (the 1,000 sentences) and greedy one
  sentence at a time (the first 150), alternating between the two graphs, median of the
  repeats, and the ratio per row / per tensor;
- BLEU of the beam 5 output;
- batch invariance: how many translations change between batches of up to 32 and of up
  to 3 sentences (all 1,000), and between batches of 32 and one at a time (the first 200).

A third row is ONNX Runtime's other int8 path, weight-only 8-bit blocks (`MatMulNBits`, from
its `MatMulNBitsQuantizer`, blocks of 32, symmetric) with int8 compute (accuracy level 4),
which quantizes activations per row and block and so is batch-invariant too.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import sacrebleu
from eval_common import eval_parser, report_header, write_report

from translator.bundle import write_manifest
from translator.inference import Translator
from translator.onnx_export import export_bundle


def nbits_bundle(model: Path, bundle: Path) -> Path:
    """A copy of the bundle whose int8 graphs are its fp32 graphs with every constant-weight
    MatMul made MatMulNBits (8 bits, blocks of 32, int8 compute)."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)  # a line per node
    shutil.copytree(model, bundle, ignore=shutil.ignore_patterns("onnx"))
    export_bundle(bundle, ["fp32", "int8"])
    for graph in ("encoder.onnx", "decoder.onnx"):
        quantizer = MatMulNBitsQuantizer(onnx.load(str(bundle / "onnx/fp32" / graph)), bits=8, block_size=32,
                                         is_symmetric=True, accuracy_level=4)  # fmt: skip
        quantizer.process()
        onnx.save(quantizer.model.model, str(bundle / "onnx/int8" / graph))
    write_manifest(bundle)  # the int8 graphs' new checksums
    return bundle


def main() -> int:
    ap = eval_parser(__doc__ or "", "reports/int8_rows")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    data = Path(args.data)
    with gzip.open(data / "test_2016_flickr.en.gz", "rt", encoding="utf-8") as f:
        sources = [line.rstrip("\n") for line in f]
    with gzip.open(data / "test_2016_flickr.fr.gz", "rt", encoding="utf-8") as f:
        references = [line.rstrip("\n") for line in f]
    work = Path(tempfile.mkdtemp(prefix="int8-rows-"))
    try:
        translators = {}
        for label, rows in (("per tensor", False), ("per row", True)):
            bundle = work / label.replace(" ", "_")
            shutil.copytree(args.model, bundle, ignore=shutil.ignore_patterns("onnx"))
            export_bundle(bundle, ["int8"], int8_rows=rows)
            translators[label] = Translator(bundle, engine="onnx", variant="int8", threads=args.threads)
        translators["MatMulNBits 8-bit"] = Translator(nbits_bundle(Path(args.model), work / "nbits"), engine="onnx",
                                                      variant="int8", threads=args.threads)  # fmt: skip
        times: dict[str, dict[str, list[float]]] = {k: {"beam5-b32": [], "greedy-b1": []} for k in translators}
        outputs: dict[str, list[str]] = {}
        for _ in range(args.repeats):
            for label, tr in translators.items():
                start = time.perf_counter()
                outputs[label] = [r.text for r in tr.translate(sources, beam_size=5, max_batch_size=32)]
                times[label]["beam5-b32"].append(time.perf_counter() - start)
                start = time.perf_counter()
                for s in sources[:150]:
                    tr.translate([s], beam_size=1)
                times[label]["greedy-b1"].append(time.perf_counter() - start)
        rows = {}
        for label, tr in translators.items():
            small = [r.text for r in tr.translate(sources, beam_size=5, max_batch_size=3)]
            alone = [tr.translate([s], beam_size=5)[0].text for s in sources[:200]]
            rows[label] = {
                "beam5_b32_seconds": round(statistics.median(times[label]["beam5-b32"]), 2),
                "greedy_b1_seconds": round(statistics.median(times[label]["greedy-b1"]), 2),
                "bleu": round(sacrebleu.corpus_bleu(outputs[label], [references]).score, 2),
                "changed_b32_vs_b3": sum(a != b for a, b in zip(outputs[label], small, strict=True)),
                "changed_b32_vs_b1": sum(a != b for a, b in zip(outputs[label][:200], alone, strict=True)),
            }
        base = rows["per tensor"]
        for row in rows.values():
            for setting in ("beam5_b32", "greedy_b1"):
                row[f"{setting}_time_ratio"] = round(row[f"{setting}_seconds"] / base[f"{setting}_seconds"], 3)
        report = {**report_header(args, next(iter(translators.values()))), "repeats": args.repeats, "graphs": rows}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    md = [
        "# int8 activations: one scale per row against one per tensor",
        "",
        f"`{report['command']}`",
        "",
        f"Model `{args.model}`, int8 graphs exported both ways (and with MatMulNBits: weight-only 8-bit blocks "
        f"of 32, int8 compute), ONNX Runtime, {args.threads} threads, "
        "test_2016_flickr; "
        f"times are medians of {args.repeats} alternating repeats (beam 5 over the 1,000 sentences in batches of up "
        "to 32; greedy over the first 150, one at a time); time ratio: against per tensor, in the same run (>1 is "
        "slower). Changed: translations that differ between batches of up to 32 and of up to 3 (of 1,000), and "
        "between batches of 32 and one at a time (of the first 200).",
        "",
        "| int8 activations | beam 5, b32 s | ratio | greedy, b1 s | ratio | BLEU | changed b32 vs b3 "
        "| changed b32 vs b1 |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {label} | {r['beam5_b32_seconds']} | {r['beam5_b32_time_ratio']} | {r['greedy_b1_seconds']} | "
            f"{r['greedy_b1_time_ratio']} | {r['bleu']} | {r['changed_b32_vs_b3']} | {r['changed_b32_vs_b1']} |"
            for label, r in rows.items()
        ),
    ]
    write_report(args.out, report, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
