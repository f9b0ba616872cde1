"""Add the truecasing word list (`translator/truecase.py`) to a bundle trained before it existed.

    python scripts/add_truecase.py --model models/default --corpus data/multi30k/train.en.gz

`translator train` writes the list into every bundle it makes, from the English side of its
training corpus; this script does the same for an existing bundle, from the corpus it was
trained on, and rewrites the bundle's manifest (the other files are left as they are).
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

from translator import truecase
from translator.bundle import atomic_write_bytes, read_manifest, write_manifest


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--corpus", default="data/multi30k/train.en.gz", help="the English side it was trained on")
    args = ap.parse_args()
    model = Path(args.model)
    read_manifest(model)  # a bundle: fails clearly otherwise
    opener = gzip.open if args.corpus.endswith(".gz") else open
    with opener(args.corpus, "rt", encoding="utf-8") as f:
        words = truecase.lowercase_words(line.rstrip("\n") for line in f)
    atomic_write_bytes(model / truecase.FILE, truecase.file_bytes(words))
    write_manifest(model)
    print(f"{model / truecase.FILE}: {len(words)} words")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
