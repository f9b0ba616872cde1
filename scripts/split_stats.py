"""Why test_2017_flickr scores lower than test_2016_flickr: unseen words, length, and BLEU by group.

    python scripts/split_stats.py --model models/default [--data data/multi30k] [--beam 5] [--out reports/split_stats]

For val and both test splits: sentences, mean source words, the share of source
and reference word tokens never seen in the training corpus (lowercased words,
punctuation split off), the share of sentences with at least one unseen source
word, the unseen source words most often met, and the model's sacreBLEU (beam 5,
torch engine) on the whole split and on the sentences with and without unseen
source words. Prints a table and writes JSON and Markdown.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import sacrebleu
from eval_common import eval_parser, write_report

from training.data import SPLITS, read_parallel, split_paths
from translator.inference import Translator

WORD = re.compile(r"\w+", re.UNICODE)
TOP_UNSEEN = 20  # the unseen source words listed per split, most frequent first


def words(line: str) -> list[str]:
    return WORD.findall(line.lower())


def vocabulary(lines: Iterable[str]) -> set[str]:
    return {w for line in lines for w in words(line)}


def unseen_share(lines: list[str], vocab: set[str]) -> float:
    tokens = [w for line in lines for w in words(line)]
    return sum(w not in vocab for w in tokens) / max(len(tokens), 1)


def bleu(hyps: list[str], refs: list[str]) -> float | None:
    return round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2) if hyps else None


def main() -> None:
    args = eval_parser(__doc__, "reports/split_stats").parse_args()
    data = Path(args.data)
    train_en, train_fr = read_parallel(*split_paths(data, "train"))
    vocab_en, vocab_fr = vocabulary(train_en), vocabulary(train_fr)
    translator = Translator(args.model, engine="torch", threads=args.threads)
    rows = []
    top_unseen: dict[str, list[tuple[str, int]]] = {}
    for split in SPLITS[1:]:  # val and the test sets
        src, ref = read_parallel(*split_paths(data, split))
        hyps = [r.hypotheses[0].text for r in translator.translate(src, beam_size=args.beam)]
        has_unseen = [any(w not in vocab_en for w in words(s)) for s in src]
        group = {flag: [i for i, f in enumerate(has_unseen) if f == flag] for flag in (True, False)}
        missing = Counter(w for s in src for w in words(s) if w not in vocab_en)
        top_unseen[split] = missing.most_common(TOP_UNSEEN)
        rows.append(
            {
                "split": split,
                "sentences": len(src),
                "mean_source_words": round(sum(len(words(s)) for s in src) / len(src), 2),
                "unseen_source_tokens_pct": round(100 * unseen_share(src, vocab_en), 2),
                "unseen_reference_tokens_pct": round(100 * unseen_share(ref, vocab_fr), 2),
                "unseen_source_words": len(missing),
                "sentences_with_unseen_source_pct": round(100 * len(group[True]) / len(src), 1),
                "bleu": bleu(hyps, ref),
                "bleu_with_unseen": bleu([hyps[i] for i in group[True]], [ref[i] for i in group[True]]),
                "bleu_without_unseen": bleu([hyps[i] for i in group[False]], [ref[i] for i in group[False]]),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    command = "python scripts/split_stats.py " + " ".join(sys.argv[1:])
    report = {
        "command": command,
        "model": args.model,
        "beam": args.beam,
        "engine": "torch",
        "splits": rows,
        "top_unseen_source_words": top_unseen,
    }
    header = list(rows[0])
    lines = [
        f"# Multi30k splits: unseen words and BLEU ({args.model}, torch, beam {args.beam})",
        "",
        f"`{command}`",
        "",
        "Unseen = lowercased word (punctuation split off) that never occurs in the training corpus.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(r[k]) for k in header) + " |" for r in rows),
        "",
        f"Unseen source words met most often (count), at most {TOP_UNSEEN} per split:",
        "",
        *(f"- {split}: " + ", ".join(f"{w} ({n})" for w, n in top) for split, top in top_unseen.items()),
    ]
    write_report(args.out, report, lines)


if __name__ == "__main__":
    main()
