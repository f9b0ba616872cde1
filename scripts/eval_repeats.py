"""What blocking repeats (`DecodeConfig.block_repeats`) does: on and off, side by side.

    python scripts/eval_repeats.py --model models/default [--data data/multi30k] [--beam 5] [--out reports/repeats]

For val and the two test splits, with the same engine in the same run: sacreBLEU,
how many translations (and references) have a word twice in a row ("la neige
neige"), how many have what the rule blocks, a run of up to `MAX_RUN` pieces that
spells two letters or more twice in a row ("promenmenmene", "de lunettes de
lunettes"; the text segmented by the model's tokenizer), and the translation time
(on and off alternating, medians of --repeats).
"""

from __future__ import annotations

import itertools
import statistics
import time
from pathlib import Path

import sacrebleu
from eval_common import eval_parser, report_header, write_report

from training.data import read_parallel, split_paths
from translator.inference import Translator
from translator.search import MAX_RUN, repeated_run

SPLITS = ("val", "test_2016_flickr", "test_2017_flickr")


def doubled(text: str) -> bool:
    """A word (with a letter) written twice in a row."""
    words = text.lower().split()
    return any(a == b and any(c.isalpha() for c in a) for a, b in itertools.pairwise(words))


def main() -> None:
    ap = eval_parser(__doc__, "reports/repeats")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes of each mode (default 3)")
    args = ap.parse_args()
    tr = Translator(args.model, threads=args.threads)

    def stutter(text: str) -> bool:
        return repeated_run(tr.tokenizer.encode(text), tr.tokenizer.repeat_weights)

    rows = []
    examples = []
    for split in SPLITS:
        src, ref = read_parallel(*split_paths(Path(args.data), split))
        hyps: dict[bool, list[str]] = {}
        seconds: dict[bool, list[float]] = {False: [], True: []}
        for r in range(args.repeats):
            for block in (r % 2 == 0, r % 2 == 1):
                t0 = time.perf_counter()
                hyps[block] = [x.text for x in tr.translate(src, beam_size=args.beam, block_repeats=block)]
                seconds[block].append(time.perf_counter() - t0)
        row: dict[str, object] = {
            "split": split,
            "sentences": len(src),
            "references doubled": sum(map(doubled, ref)),
            "references runs": sum(map(stutter, ref)),
        }
        for block in (False, True):
            label = "on" if block else "off"
            row[f"BLEU {label}"] = round(sacrebleu.corpus_bleu(hyps[block], [ref]).score, 2)
            row[f"doubled {label}"] = sum(map(doubled, hyps[block]))
            row[f"runs {label}"] = sum(map(stutter, hyps[block]))
            row[f"seconds {label}"] = round(statistics.median(seconds[block]), 2)
        row["time on / off"] = round(float(row["seconds on"]) / float(row["seconds off"]), 3)  # type: ignore[arg-type]
        rows.append(row)
        changed = [(a, b) for a, b in zip(hyps[False], hyps[True], strict=True) if a != b]
        # one of each: a run inside a word or across words ("promenmenmene"), a word twice, neither
        for kind in (lambda t: stutter(t) and not doubled(t), doubled, lambda t: not stutter(t) and not doubled(t)):
            examples += [pair for pair in changed if kind(pair[0])][:1]
    report = {
        **report_header(args, tr),
        "beam": args.beam,
        "splits": rows,
        "examples (off, on)": examples,
    }
    md = [
        "# Blocking repeats (`DecodeConfig.block_repeats`): on and off",
        "",
        f"`{report['command']}`",
        "",
        f"Model `{args.model}`, engine {report['engine']}, beam {args.beam}; the same engine in one run, "
        f"on and off alternating, time medians of {args.repeats}. 'Doubled': translations with a word "
        f"twice in a row; 'runs': with a run of up to {MAX_RUN} pieces spelling two letters or more twice "
        'in a row (what the rule blocks: "promenmenmene", "de lunettes de lunettes").',
        "",
        "| split | sentences | references doubled / runs | doubled off | on | runs off | on "
        "| BLEU off | on | time on/off |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {r['split']} | {r['sentences']} | {r['references doubled']} / {r['references runs']} "
            f"| {r['doubled off']} | {r['doubled on']} | {r['runs off']} | {r['runs on']} "
            f"| {r['BLEU off']} | {r['BLEU on']} | {r['time on / off']} |"
            for r in rows
        ],
        "",
        "Examples (off → on):",
        "",
        *[f"- {a} → {b}" for a, b in examples],
    ]
    write_report(args.out, report, md)


if __name__ == "__main__":
    main()
