"""Training throughput, fp32 vs bf16 autocast, side by side on this CPU.

    python scripts/bench_precision.py [--config multi30k] [--steps 30] [--repeats 3]

Builds the preset's model twice (same seed), then alternates blocks of
training steps on the same batches, and prints a table of target tokens/s
(median over repeats) and the bf16/fp32 ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

from training.config import load_train_config
from training.trainer import Trainer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="multi30k")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    base = load_train_config(args.config, args.set)
    trainers = {}
    with tempfile.TemporaryDirectory() as tmp:
        for prec in ("fp32", "bf16"):
            cfg = dataclasses.replace(base, precision=prec)
            t = Trainer(cfg, Path(tmp) / prec, progress=False)
            t.model.train()
            trainers[prec] = t
        examples = trainers["fp32"].examples(0)
        from training.batching import make_batches

        batches = make_batches(examples, base.max_tokens, seed=0)
        rates: dict[str, list[float]] = {p: [] for p in trainers}
        for r in range(args.repeats):
            for prec, t in trainers.items():
                chunk = batches[r * args.steps : (r + 1) * args.steps]
                t.step([examples[i] for i in chunk[0]])  # warm-up
                tokens, t0 = 0, time.perf_counter()
                for b in chunk:
                    tokens += t.step([examples[i] for i in b])[1]
                rates[prec].append(tokens / (time.perf_counter() - t0))
    med = {p: statistics.median(v) for p, v in rates.items()}
    print(f"| precision | target tokens/s (median of {args.repeats}) | ratio vs fp32 |")
    print("|---|---|---|")
    for p in trainers:
        print(f"| {p} | {med[p]:.0f} | {med[p] / med['fp32']:.2f} |")
    print(json.dumps({"config": args.config, "steps": args.steps, "tokens_per_s": med, "runs": rates}))


if __name__ == "__main__":
    main()
