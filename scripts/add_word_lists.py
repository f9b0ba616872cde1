"""Add the word lists made from the training corpus to a bundle trained before they existed.

    python scripts/add_word_lists.py --model models/default --corpus data/multi30k/train.en.gz

The lists: the truecasing words (`translator/truecase.py`) and the word counts of the speller
(`translator/spelling.py`). `translator train` writes both into every bundle it makes, from
the English side of its training corpus; this script does the same for an existing bundle,
from the corpus it was trained on, and rewrites the bundle's manifest (the other files are
left as they are).
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

from translator.bundle import atomic_write_bytes, read_manifest, word_lists, write_manifest


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--corpus", default="data/multi30k/train.en.gz", help="the English side it was trained on")
    args = ap.parse_args()
    model = Path(args.model)
    read_manifest(model)  # a bundle: fails clearly otherwise
    opener = gzip.open if args.corpus.endswith(".gz") else open
    with opener(args.corpus, "rt", encoding="utf-8") as f:
        sentences = [line.rstrip("\n") for line in f]
    for name, data in word_lists(sentences).items():
        atomic_write_bytes(model / name, data)
        print(f"{model / name}: {len(data.splitlines()) - 1} words")
    write_manifest(model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
