"""Where the time of a translation goes: Python (cProfile, CPU time) and, for the ONNX
engine, the decoder graph's operators (ONNX Runtime's profiler).

    python scripts/profile_decode.py --model DIR --variant int8 --beam 5 --sentences 300

Prints the top functions by own CPU time and the decoder's top operators by kernel time.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import gzip
import io
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

import onnxruntime as ort

from translator.inference import Translator
from translator.onnx_export import DECODER, graph_path
from translator.ort_engine import OrtEngine


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--data", default="data/multi30k")
    ap.add_argument("--variant", default="int8")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--sentences", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    with gzip.open(Path(args.data) / "test_2016_flickr.en.gz", "rt", encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f][: args.sentences]
    tr = Translator(args.model, engine="onnx", variant=args.variant, threads=args.threads)
    tr.translate(texts[:32], beam_size=args.beam)  # warm-up

    profiler = cProfile.Profile(time.process_time)
    wall, cpu = time.perf_counter(), time.process_time()
    profiler.enable()
    tr.translate(texts, beam_size=args.beam, max_batch_size=args.batch)
    profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"# {len(texts)} sentences, beam {args.beam}, batch {args.batch}, {args.variant}: "
          f"{len(texts) / wall:.1f} sent/s, wall {wall:.2f} s, CPU {cpu:.2f} s\n")  # fmt: skip
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    print("## Python functions by own CPU time (ONNX Runtime's run = the graphs)\n")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:4000])

    engine = tr.engine
    assert isinstance(engine, OrtEngine)
    options = engine.options.session_options()
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = str(Path(tmp) / "decoder")
        path = graph_path(engine.model_dir, engine.variant, DECODER)
        engine.decoder = ort.InferenceSession(str(path), options, providers=engine.providers)
        tr.translate(texts[:96], beam_size=args.beam, max_batch_size=args.batch)
        events = json.loads(Path(engine.decoder.end_profiling()).read_text())
    by_op: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by_op[e["args"]["op_name"]] += e["dur"]
    total = sum(by_op.values())
    print("\n## Decoder graph: kernel time by operator (96 sentences)\n")
    print("| operator | ms | share |\n|---|---|---|")
    for op, us in by_op.most_common(12):
        print(f"| {op} | {us / 1000:.1f} | {100 * us / total:.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
