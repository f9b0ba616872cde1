"""Forced alignment of texts of several sentences: decoded whole against sentence by sentence.

    python scripts/eval_multisentence_align.py --model models/default \
        --gold-dir ../shared/data/hansards-align --out reports/multisentence_align

The Hansards gold pairs (one sentence each) are joined in twos (pairs 1+2, 3+4, ...), the
gold links of the second sentence shifted past the first; every sentence starts with a
capital (the files are lowercased), so that the sentence splitter sees two sentences per
side. Reported: AER of the joined pairs force-decoded whole (`align(..., by_sentence=False)`)
and sentence by sentence (the default), beside the same sentences aligned one by one, and the
links that go from one sentence to the other. Then Multi30k val captions joined in twos with
their references (no gold links): the links that cross sentences, and the time.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Sequence
from pathlib import Path

from eval_common import eval_parser, report_header, write_report

from translator.aer import Gold, read_gold, score
from translator.align import Alignment, align
from translator.inference import Translator

Pair = tuple[int, int]


def capitalized(line: str) -> str:
    return line[:1].upper() + line[1:]


def joined_in_twos(lines: Sequence[str]) -> list[str]:
    return [f"{lines[i]} {lines[i + 1]}" for i in range(0, len(lines) - 1, 2)]


def crossing(links: set[Pair], source_words: int, target_words: int) -> int:
    """Links from one sentence's words to the other's (the first has these many words)."""
    return sum((i < source_words) != (j < target_words) for i, j in links)


def shifted_union(first: set[Pair], second: set[Pair], di: int, dj: int) -> set[Pair]:
    return first | {(i + di, j + dj) for i, j in second}


def links(alignments: Sequence[Alignment]) -> list[set[Pair]]:
    return [{(i, j) for i, j, _ in a.links} for a in alignments]


def main() -> int:
    ap = eval_parser(__doc__ or "", "reports/multisentence_align")
    ap.add_argument("--gold-dir", default="../shared/data/hansards-align")
    ap.add_argument("--captions", type=int, default=400, help="val captions joined in twos (default 400)")
    args = ap.parse_args()
    tr = Translator(args.model, threads=args.threads)
    gold_dir = Path(args.gold_dir)
    src = [capitalized(x) for x in (gold_dir / "dev.en").read_text(encoding="utf-8").splitlines()]
    tgt = [capitalized(x) for x in (gold_dir / "dev.fr").read_text(encoding="utf-8").splitlines()]
    lens_s, lens_t = [len(x.split()) for x in src], [len(x.split()) for x in tgt]
    gold = read_gold(gold_dir / "dev.wa.nonullalign", source_lengths=lens_s, target_lengths=lens_t)
    n = len(src) // 2 * 2  # an odd last pair is left out
    src, tgt = src[:n], tgt[:n]
    pairs = range(0, n, 2)
    joined_gold = Gold(
        sure=[shifted_union(gold.sure[i], gold.sure[i + 1], lens_s[i], lens_t[i]) for i in pairs],
        possible=[shifted_union(gold.possible[i], gold.possible[i + 1], lens_s[i], lens_t[i]) for i in pairs],
    )
    one_by_one = links(align(tr, src, tgt, tokenized=True))
    rows = {
        "sentences aligned one by one": [
            shifted_union(one_by_one[i], one_by_one[i + 1], lens_s[i], lens_t[i]) for i in pairs
        ]
    }
    for label, by_sentence in (("joined, decoded whole", False), ("joined, sentence by sentence", True)):
        rows[label] = links(
            align(tr, joined_in_twos(src), joined_in_twos(tgt), tokenized=True, by_sentence=by_sentence)
        )
    hansards = {}
    for label, hyp in rows.items():
        crossed = sum(crossing(h, lens_s[i], lens_t[i]) for h, i in zip(hyp, pairs, strict=True))
        hansards[label] = {**score(joined_gold, hyp), "crossing_links": crossed}

    with gzip.open(Path(args.data) / "val.en.gz", "rt", encoding="utf-8") as f:
        val_src = [next(f).rstrip("\n") for _ in range(args.captions)]
    with gzip.open(Path(args.data) / "val.fr.gz", "rt", encoding="utf-8") as f:
        val_tgt = [next(f).rstrip("\n") for _ in range(args.captions)]
    words_s, words_t = [len(x.split()) for x in val_src], [len(x.split()) for x in val_tgt]
    captions = {}
    for label, by_sentence in (("decoded whole", False), ("sentence by sentence", True)):
        t0 = time.perf_counter()
        hyp = links(align(tr, joined_in_twos(val_src), joined_in_twos(val_tgt), by_sentence=by_sentence))
        seconds = time.perf_counter() - t0
        total = sum(len(h) for h in hyp)
        crossed = sum(crossing(h, words_s[i], words_t[i]) for h, i in zip(hyp, range(0, len(val_src), 2), strict=True))
        captions[label] = {"links": total, "crossing_links": crossed, "seconds": round(seconds, 2)}

    report = {
        **report_header(args, tr),
        "hansards_joined_pairs": len(pairs),
        "hansards": hansards,
        "val_joined_pairs": args.captions // 2,
        "val": captions,
    }
    md = [
        "# Forced alignment of texts of several sentences: whole against sentence by sentence",
        "",
        f"`{report['command']}`",
        "",
        f"Model `{args.model}`, engine {report['engine']}, the default method and layers (no adaptation).",
        "",
        f"## Hansards gold pairs joined in twos ({len(pairs)} texts of 2 sentences)",
        "",
        "| alignment | precision | recall | AER | links | links across sentences |",
        "|---|---|---|---|---|---|",
        *(
            f"| {label} | {r['precision']} | {r['recall']} | {r['aer']} | {r['links']} | {r['crossing_links']} |"
            for label, r in hansards.items()
        ),
        "",
        f"## Multi30k val captions joined in twos with their references ({args.captions // 2} texts, no gold)",
        "",
        "| alignment | links | links across sentences | seconds |",
        "|---|---|---|---|",
        *(
            f"| {label} | {r['links']} | {r['crossing_links']} ({100 * r['crossing_links'] / r['links']:.1f}%) "
            f"| {r['seconds']} |"
            for label, r in captions.items()
        ),
    ]
    write_report(args.out, report, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
