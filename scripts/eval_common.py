"""What the evaluation scripts share: their common options and how they write a report.

The scripts run as `python scripts/NAME.py` from the repository root, so this module is
imported from the scripts' own directory.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import sacrebleu

import translator.verbatim


def eval_parser(doc: str, out: str) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of `doc`, with --model, --data, --beam,
    --threads and --out (default `out`); the script adds its own options."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--data", default="data/multi30k")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=out, help=f"report path without suffix (default {out})")
    return ap


def report_header(args: argparse.Namespace, translator: Any) -> dict[str, Any]:
    """What every report starts with: the command that made it, the model and its engine."""
    return {
        "command": "python " + " ".join(sys.argv),
        "model": args.model,
        "engine": str(getattr(translator.engine, "name", "?")),
    }


def bleu(hyps: list[str], refs: list[str]) -> float:
    """Corpus sacreBLEU of `hyps` against `refs` (one reference each), 2 decimals; 0.0 for none."""
    return round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2) if hyps else 0.0


def changed_row(off: list[str], on: list[str], refs: list[str], hit: list[int]) -> dict[str, Any]:
    """A split's row for a rule that changes the sentences `hit`: their count, BLEU of the
    split and of those sentences alone, with the rule off and on."""
    return {
        "sentences": len(refs),
        "changed_by_rule": len(hit),
        "bleu_off": bleu(off, refs),
        "bleu_on": bleu(on, refs),
        "those_bleu_off": bleu([off[i] for i in hit], [refs[i] for i in hit]),
        "those_bleu_on": bleu([on[i] for i in hit], [refs[i] for i in hit]),
    }


def changed_table(splits: dict[str, dict[str, Any]]) -> list[str]:
    """The Markdown table of `changed_row`s, by split."""
    return md_table(
        ["split", "sentences", "changed", "BLEU off", "BLEU on", "those, off", "those, on"],
        ([k, *v.values()] for k, v in splits.items()),
    )


def md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """The lines of a Markdown table: `header`, then one line per row."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(map(str, row)) + " |" for row in rows),
    ]


def write_report(out: str | Path, report: dict[str, Any], md: list[str]) -> None:
    """OUT.json (the report) and OUT.md (the lines `md`), and the Markdown on stdout."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


def off_and_on(rule: str, translate: Callable[[list[str]], list[str]], texts: list[str]) -> tuple[list, list]:
    """`translate(texts)` with the input rule `translator.verbatim.<rule>` (a function that
    returns None where the rule does not apply: `statement`, `affirm`, `lower_first`) turned off,
    then on."""
    kept = getattr(translator.verbatim, rule)
    setattr(translator.verbatim, rule, lambda *args: None)
    try:
        off = translate(texts)
    finally:
        setattr(translator.verbatim, rule, kept)
    return off, translate(texts)
