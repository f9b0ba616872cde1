"""Do the ONNX Runtime engines give the same alignment links as the torch engine?

    python scripts/align_parity.py --model DIR --src FILE --tgt FILE [--variants fp32,int8] [--tokenized]

Aligns the pairs with each engine (default layer/head/method) and prints, per ONNX
variant, the share of pairs with identical links and the link-level agreement (F1)
with the torch engine. A bundle without a variant's graphs is skipped.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from translator.align import align
from translator.bundle import read_manifest
from translator.inference import Translator


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--src", required=True)
    ap.add_argument("--tgt", required=True)
    ap.add_argument("--variants", default="fp32,int8")
    ap.add_argument("--tokenized", action="store_true")
    args = ap.parse_args()
    src = Path(args.src).read_text(encoding="utf-8").splitlines()
    tgt = Path(args.tgt).read_text(encoding="utf-8").splitlines()

    def links(engine: str, variant: str | None = None) -> list[set[tuple[int, int]]]:
        tr = Translator(args.model, engine=engine, variant=variant, device="cpu")
        return [{(i, j) for i, j, _ in a.links} for a in align(tr, src, tgt, tokenized=args.tokenized)]

    ref = links("torch")
    have = read_manifest(Path(args.model)).get("variants", [])
    out = {"command": "python scripts/align_parity.py " + shlex.join(sys.argv[1:]), "pairs": len(src)}
    for variant in args.variants.split(","):
        if variant not in have:
            continue
        got = links("onnx", variant)
        same = sum(a == b for a, b in zip(got, ref, strict=True))
        tp = sum(len(a & b) for a, b in zip(got, ref, strict=True))
        f1 = 2 * tp / max(sum(map(len, got)) + sum(map(len, ref)), 1)
        out[variant] = {"identical_pairs": same, "link_f1_vs_torch": round(f1, 4)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
