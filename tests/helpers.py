"""Shared test helpers: synthetic parallel data and a tiny trained bundle."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

WORDS = [
    *("red", "blue", "green", "black", "white", "small", "big", "dog", "cat", "man"),
    *("woman", "boy", "girl", "runs", "jumps", "sits", "the", "a", "on", "in"),
]


def reverse_task(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Source: 2-6 random words; target: the same words in reverse order."""
    rng = random.Random(seed)
    src, tgt = [], []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(2, 6))]
        src.append(" ".join(words))
        tgt.append(" ".join(reversed(words)))
    return src, tgt


def write_gz(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def write_reverse_corpus(data_dir: Path, n_train: int = 3000, n_val: int = 100) -> Path:
    """The reverse task; one training pair in four ends with "." and one in forty with "?"
    (as captions do), so that the vocabulary has them."""
    for split, n, seed in (("train", n_train, 1), ("val", n_val, 2)):
        src, tgt = reverse_task(n, seed)
        if split == "train":
            marks = ["?" if i % 40 == 0 else "." if i % 4 == 0 else "" for i in range(n)]
            src = [s + m for s, m in zip(src, marks, strict=True)]
            tgt = [t + m for t, m in zip(tgt, marks, strict=True)]
        write_gz(data_dir / f"{split}.en.gz", src)
        write_gz(data_dir / f"{split}.fr.gz", tgt)
    return data_dir


TINY_OVERRIDES = [
    "model.vocab_size=48",  # every word is one piece
    "model.d_model=64",
    "model.d_ff=128",
    "model.n_heads=4",
    "model.encoder_layers=2",
    "model.decoder_layers=2",
    "max_tokens=1024",
    "lr=0.003",
    "warmup_steps=50",
]
