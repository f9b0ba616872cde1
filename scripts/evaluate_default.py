"""Evaluate a model bundle on Multi30k val/test with `translator evaluate`, write the report.

    python scripts/evaluate_default.py --model models/default [--data data/multi30k] [--beam 5]

Runs `translator evaluate` once per split (beam 5 by default), collects its JSON
lines plus the training facts from the bundle manifest, and writes
reports/default_model.json and reports/default_model.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SPLITS = ("val", "test_2016_flickr", "test_2017_flickr")
TARGETS = {"test_2016_flickr": 52.4, "test_2017_flickr": 52.8}  # opus-mt-tc-big-en-fr, sacreBLEU


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--data", default="data/multi30k")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--engine", default="torch", help="engine for translator evaluate (default torch)")
    ap.add_argument("--variant", help="ONNX variant, with --engine onnx")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="reports/default_model")
    ap.add_argument("--config", default="multi30k", help="the preset the model was trained with (for the report)")
    args = ap.parse_args()
    translator = str(Path(sys.executable).with_name("translator"))
    results = {}
    commands = []
    for split in SPLITS:
        cmd = [translator, "evaluate", "--model", args.model, "--beam", str(args.beam),
               "--src", f"{args.data}/{split}.en.gz", "--ref", f"{args.data}/{split}.fr.gz",
               "--engine", args.engine, "--threads", str(args.threads)]  # fmt: skip
        if args.variant:
            cmd += ["--variant", args.variant]
        commands.append(" ".join(cmd[1:]))
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[split] = json.loads(out.strip().splitlines()[-1])
        print(split, results[split], flush=True)
    manifest = json.loads((Path(args.model) / "manifest.json").read_text())
    training = manifest.get("training", {})
    seconds = training.get("train_seconds", 0.0)
    report = {
        "model": args.model,
        "beam": args.beam,
        "engine": args.engine,
        "variant": args.variant,
        "results": results,
        "targets_bleu": TARGETS,
        "training": {
            **training,
            "target_tokens_per_s": round(training.get("target_tokens", 0) / seconds, 1) if seconds else None,
        },
        "commands": {
            "data": "translator data --from ../shared/data/multi30k --out data/multi30k",
            "train": f"translator train --config {args.config} --out runs/{args.config}",
            "evaluate": [f"translator {c}" for c in commands],
            "report": "python scripts/evaluate_default.py " + " ".join(sys.argv[1:]),
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# Default model: {args.model}",
        "",
        f"Engine {args.engine} {args.variant or ''}, sacreBLEU, beam {args.beam}, detokenized output.",
        f"Signature: `{results[SPLITS[0]]['bleu_signature']}`.",
        "",
        "| split | BLEU | chrF | target BLEU (opus-mt-tc-big-en-fr) | seconds |",
        "|---|---|---|---|---|",
    ]
    for split in SPLITS:
        r = results[split]
        lines.append(f"| {split} | {r['bleu']} | {r['chrf']} | {TARGETS.get(split, '')} | {r['seconds']} |")
    t = report["training"]
    lines += [
        "",
        "| training | value |",
        "|---|---|",
        f"| wall time (all resumed runs, evaluation included) | {seconds / 60:.1f} min |",
        f"| steps / epochs | {t.get('steps')} / {t.get('epochs')} |",
        f"| target tokens/s | {t.get('target_tokens_per_s')} |",
        f"| parameters | {t.get('parameters')} |",
        f"| selected | {t.get('selected')} (val BLEU greedy {t.get('val_bleu_greedy')}) |",
        "",
        "Commands:",
        "",
        "```",
        report["commands"]["data"],
        report["commands"]["train"],
        *report["commands"]["evaluate"],
        report["commands"]["report"],
        "```",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
