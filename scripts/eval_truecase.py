"""Truecasing a sentence's first word: BLEU with the rule on against off, on the Multi30k splits.

    python scripts/eval_truecase.py --model models/default --out reports/truecase

A sentence that starts with a word the model knows in lowercase only ("Horses graze in a
pasture.") is translated with that word lowercased, and the translation capitalized
(`translator/truecase.py`). For val, test_2016_flickr and test_2017_flickr, this script
translates every sentence with the rule off and on (everything else as shipped), and
reports how many sentences it changes, the BLEU of the whole split and of those sentences,
off and on, and examples. The engine is torch by default: with the shipped int8 graphs the
translations of the other sentences would move too, with the batches the changed ones join
(README: int8 and batches).

Also: val sentences with one word in capitals ("A man in a RED shirt"), translated with that
word given to the model in lowercase and its translation put in capitals (on), or as they
are (off): how many translations keep a word in capitals, and BLEU without case.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import sacrebleu
from eval_common import changed_row, changed_table, eval_parser, md_table, off_and_on, report_header, write_report

from training.data import read_parallel, split_paths
from translator.inference import Translator
from translator.verbatim import prepare

SPLITS = ("val", "test_2016_flickr", "test_2017_flickr")
CAPITALS = re.compile(r"\b[A-ZÀ-Ý]{3,}\b")


def emphasis_rows(
    tr: Translator, translate: Callable[[list[str]], list[str]], sources: list[str], refs: list[str]
) -> dict:
    """Sentences (val) with one word in capitals, translated with `unemphasized` off and on."""
    marked, kept_refs, clean = [], [], []
    for source, ref in zip(sources, refs, strict=True):
        words = source.split(" ")
        k = next((k for k in range(2, len(words)) if len(words[k]) >= 3 and words[k] in tr.known), None)
        if k is not None:
            marked.append(" ".join([*words[:k], words[k].upper(), *words[k + 1 :]]))
            kept_refs.append(ref)
            clean.append(source)
    off, on = off_and_on("unemphasized", translate, marked)
    rows = {}
    for label, outputs in (("rule off", off), ("rule on", on), ("ceiling: no capitals", translate(clean))):
        rows[label] = {
            "capitals kept": sum(bool(CAPITALS.search(o)) for o in outputs),
            "BLEU": round(sacrebleu.corpus_bleu(outputs, [kept_refs], lowercase=True).score, 2),
        }
    examples = [list(x) for x in zip(marked, off, on, strict=True)][:6]
    return {"sentences": len(marked), "rows": rows, "examples": examples}


def main() -> int:
    ap = eval_parser(__doc__ or "", "reports/truecase")
    ap.add_argument("--examples", type=int, default=12)
    ap.add_argument("--engine", default="torch", choices=["torch", "onnx"])
    args = ap.parse_args()
    tr = Translator(args.model, threads=args.threads, engine=args.engine)
    if not tr.lowercase:
        raise SystemExit(f"{args.model} has no truecasing list: python scripts/add_word_lists.py --model {args.model}")

    def translate(texts: list[str]) -> list[str]:
        return [r.text for r in tr.translate(texts, beam_size=args.beam)]

    splits, examples = {}, []
    data = {split: read_parallel(*split_paths(Path(args.data), split)) for split in SPLITS}
    for split, (sources, refs) in data.items():
        off, on = off_and_on("lower_first", translate, sources)
        hit = [i for i, s in enumerate(sources) if prepare(s, tr.tokenizer.unknown, tr.lowercase).lowered]
        splits[split] = changed_row(off, on, refs, hit)
        examples += [{"split": split, "source": sources[i], "off": off[i], "on": on[i], "reference": refs[i]}
                     for i in hit[: args.examples // len(SPLITS)]]  # fmt: skip
    emphasis = emphasis_rows(tr, translate, *data["val"])
    report = {
        **report_header(args, tr),
        "beam": args.beam,
        "splits": splits,
        "examples": examples,
        "words in capitals": emphasis,
    }
    md = [
        "# Truecasing the first word: the rule on against off",
        "",
        f"`{report['command']}`",
        "",
        f"Model `{args.model}`, engine {report['engine']}, beam {args.beam}; sacreBLEU defaults. 'Changed': "
        "sentences whose first word the rule lowercases; 'those': BLEU of those sentences alone.",
        "",
        *changed_table(splits),
        "",
        *md_table(["split", "source", "rule off", "rule on", "reference"], (e.values() for e in examples)),
        "",
        "## A word in capitals",
        "",
        f"Val sentences with one word after the first (of 3 letters or more, one the model knows) in capitals "
        f"('A man in a RED shirt'): {emphasis['sentences']}. 'Capitals kept': translations with a word in "
        "capitals; BLEU without case against the references (the clean val sources: the ceiling).",
        "",
        *md_table(
            ["", "capitals kept", "BLEU (lowercased)"],
            [[k, v["capitals kept"], v["BLEU"]] for k, v in emphasis["rows"].items()],
        ),
        "",
        *md_table(["source", "rule off", "rule on"], emphasis["examples"]),
    ]
    write_report(args.out, report, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
