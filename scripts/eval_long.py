"""Long sentences: translated in one piece against clause by clause (`translator.clauses`).

    python scripts/eval_long.py --model models/default [--data data/multi30k] [--beam 5] [--out reports/long_sentences]

1. Long sentences made from the captions of val and test_2016_flickr: every 2 (or 3)
   consecutive captions ending with "." joined into one sentence with ", and " (the
   references with ", et "), the first letter of each following caption lowered.
   Translated with clauses off (one piece) and on, and, as the bound clause splitting
   aims at, each caption alone with the translations joined as the references are.
   sacreBLEU, the length ratio (translation / references) and the time.
2. The splits as they are: how many sentences are split, and BLEU with clauses off and on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sacrebleu
from eval_common import eval_parser, report_header, write_report

from training.data import read_parallel, split_paths
from translator.clauses import split_clauses
from translator.inference import Translator

T = TypeVar("T")
SPLITS = ("val", "test_2016_flickr", "test_2017_flickr")


def lower_first(s: str) -> str:
    return s[:1].lower() + s[1:]


def body(s: str) -> str:
    return s.rstrip().removesuffix(".").rstrip()


def joined(sentences: list[str], connector: str) -> str:
    return f", {connector} ".join([body(sentences[0]), *map(lower_first, map(body, sentences[1:]))]) + "."


def score(hyps: list[str], refs: list[str]) -> dict[str, float]:
    b = sacrebleu.corpus_bleu(hyps, [refs])
    return {"BLEU": round(b.score, 2), "length ratio": round(b.sys_len / b.ref_len, 3)}


def timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return out, round(time.perf_counter() - t0, 2)


def main() -> None:
    ap = eval_parser(__doc__, "reports/long_sentences")
    args = ap.parse_args()
    on = Translator(args.model, threads=args.threads)
    off = Translator(args.model, threads=args.threads, clauses=False)

    def translate(tr: Translator, texts: list[str]) -> list[str]:
        return [r.text for r in tr.translate(texts, beam_size=args.beam)]

    made = []
    for split in SPLITS[:2]:
        src, ref = read_parallel(*split_paths(Path(args.data), split))
        for k in (2, 3):
            groups = [
                (src[i : i + k], ref[i : i + k])
                for i in range(0, len(src) - k + 1, k)
                if all(s.rstrip().endswith(".") for s in src[i : i + k] + ref[i : i + k])
            ]
            sources = [joined(ss, "and") for ss, _ in groups]
            refs = [joined(rr, "et") for _, rr in groups]
            row: dict[str, object] = {
                "split": split,
                "captions joined": k,
                "sentences": len(groups),
                "mean words": round(sum(len(s.split()) for s in sources) / len(sources), 1),
                "split into clauses": sum(len(split_clauses(s)) > 1 for s in sources),
            }
            for label, tr in (("off", off), ("on", on)):
                hyps, row[f"seconds {label}"] = timed(translate, tr, sources)
                row.update({f"{key} {label}": value for key, value in score(hyps, refs).items()})
            alone = translate(on, [s for ss, _ in groups for s in ss])
            bound = [joined(alone[j * k : (j + 1) * k], "et") for j in range(len(groups))]
            row.update({f"{key} captions alone": value for key, value in score(bound, refs).items()})
            made.append(row)
            print(json.dumps(row), flush=True)
    real = []
    for split in SPLITS:
        src, ref = read_parallel(*split_paths(Path(args.data), split))
        row = {"split": split, "sentences": len(src), "split into clauses": sum(len(split_clauses(s)) > 1 for s in src)}
        for label, tr in (("off", off), ("on", on)):
            row[f"BLEU {label}"] = score(translate(tr, src), ref)["BLEU"]
        real.append(row)
        print(json.dumps(row), flush=True)
    report = {
        **report_header(args, on),
        "beam": args.beam,
        "joined captions": made,
        "splits as they are": real,
    }
    md = [
        "# Long sentences: in one piece (clauses off) against clause by clause (on)",
        "",
        f"`{report['command']}`",
        "",
        f"Model `{args.model}`, engine {report['engine']}, beam {args.beam}.",
        "",
        "## Captions joined into long sentences",
        "",
        'Every 2 or 3 consecutive captions ending with "." joined with ", and" (references with ", et"); '
        '"captions alone": each caption translated by itself, the translations joined as the references '
        "are (what clause splitting can at best get back to). Length ratio: translation / references.",
        "",
        "| split | joined | sentences | mean words | split | BLEU off | on | captions alone "
        "| length off | on | captions alone | seconds off | on |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {r['split']} | {r['captions joined']} | {r['sentences']} | {r['mean words']} "
            f"| {r['split into clauses']} | {r['BLEU off']} | {r['BLEU on']} | {r['BLEU captions alone']} "
            f"| {r['length ratio off']} | {r['length ratio on']} | {r['length ratio captions alone']} "
            f"| {r['seconds off']} | {r['seconds on']} |"
            for r in made
        ],
        "",
        "## The splits as they are",
        "",
        "| split | sentences | split into clauses | BLEU off | on |",
        "|---|---|---|---|---|",
        *[
            f"| {r['split']} | {r['sentences']} | {r['split into clauses']} | {r['BLEU off']} | {r['BLEU on']} |"
            for r in real
        ],
    ]
    write_report(args.out, report, md)


if __name__ == "__main__":
    main()
