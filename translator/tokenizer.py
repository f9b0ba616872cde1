"""The shared SentencePiece vocabulary: training, encoding and decoding."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import sentencepiece as spm

from translator.errors import TranslatorError

logger = logging.getLogger(__name__)

PAD, UNK, BOS, EOS = 0, 1, 2, 3

# Invisible formatting characters (soft hyphen, zero-width space/joiners, direction marks and
# embeddings, word joiner, byte order mark). They carry no meaning for translation, but
# SentencePiece's normalisation keeps some of them, as unknown pieces that change the output.
INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")


def train_sentencepiece(
    texts: Iterable[str], model_prefix: Path, vocab_size: int, model_type: str = "unigram", seed: int = 1
) -> Path:
    """Train a joint model on `texts`; writes `<prefix>.model` and `<prefix>.vocab`."""
    model_prefix.parent.mkdir(parents=True, exist_ok=True)
    spm.set_random_generator_seed(seed)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts)),
        model_prefix=str(model_prefix),
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=1.0,
        pad_id=PAD,
        unk_id=UNK,
        bos_id=BOS,
        eos_id=EOS,
        num_threads=1,  # deterministic
        minloglevel=2,
        hard_vocab_limit=False,
    )
    return model_prefix.with_suffix(".model")


class Tokenizer:
    """Text <-> ids. Ids carry no BOS/EOS; the engines add what they need."""

    def __init__(self, model_path: Path) -> None:
        self._unknown: dict[str, bool] = {}
        if not model_path.is_file():
            raise TranslatorError(f"tokenizer model not found: {model_path}")
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.Load(str(model_path))
        except (RuntimeError, OSError) as exc:
            raise TranslatorError(f"tokenizer model {model_path} is corrupt: {exc}") from None
        self.path = model_path

    @property
    def vocab_size(self) -> int:
        return int(self.sp.GetPieceSize())

    def encode(self, text: str) -> list[int]:
        """Piece ids of `text` (invisible formatting characters removed first)."""
        return list(self.sp.EncodeAsIds(INVISIBLE.sub("", text)))

    def sample(self, text: str, alpha: float) -> list[int]:
        """One segmentation of `text` drawn from the unigram model's distribution, sharpened
        by `alpha` (subword regularisation, Kudo 2018); `encode` is the most likely one."""
        return list(self.sp.Encode(INVISIBLE.sub("", text), enable_sampling=True, alpha=alpha, nbest_size=-1))

    def encode_pieces(self, text: str) -> list[str]:
        return list(self.sp.EncodeAsPieces(INVISIBLE.sub("", text)))

    def piece_starts(self, text: str) -> list[int]:
        """The character offset in `text` (which must have no invisible characters) at
        which each piece of `encode(text)` starts; a piece's leading "▁" counts."""
        chars = [0] * (len(text.encode("utf-8")) + 1)  # byte offset -> character offset
        b = 0
        for i, c in enumerate(text):
            n = len(c.encode("utf-8"))
            chars[b : b + n] = [i] * n
            b += n
        chars[b] = len(text)
        return [chars[p.begin] for p in self.sp.encode(text, return_type="proto").pieces]

    def unknown(self, char: str) -> bool:
        """Whether the vocabulary cannot represent `char` (it encodes to the unknown piece)."""
        unknown = self._unknown.get(char)
        if unknown is None:
            unknown = self._unknown[char] = UNK in self.sp.EncodeAsIds(char)
        return unknown

    def whole_words(self) -> frozenset[str]:
        """The lowercase words of 3 letters or more that the vocabulary holds whole, as one
        piece ("dog", "dogs", "shirt"): words the model knows as they are written in lowercase.
        Acronyms ("bmx", "atv") are not among them."""
        words = (p[1:] for p in map(self.sp.IdToPiece, range(self.sp.GetPieceSize())) if p.startswith("▁"))
        return frozenset(w for w in words if len(w) >= 3 and w.isalpha() and w.islower())

    def decode(self, ids: list[int]) -> str:
        return str(self.sp.DecodeIds([i for i in ids if i > EOS]))

    @functools.cached_property
    def repeat_weights(self) -> np.ndarray:
        """(V,) int64: how much of a word each piece spells, for `DecodeConfig.block_repeats`
        (`translator.search`: a run of pieces weighing 2 or more may not follow itself):
        its letters, plus one for a piece that starts a word with a letter. So a word
        ("▁neige", "▁a") or a part of a word with two letters ("men" in "promenmenmene")
        may not follow itself, a single letter inside a word ("s" in "▁pa s s") may;
        control pieces weigh 0."""
        sp = self.sp

        def weight(i: int) -> int:
            if sp.IsControl(i) or sp.IsUnknown(i):
                return 0
            piece = str(sp.IdToPiece(i))
            letters = sum(c.isalpha() for c in piece)
            return letters + int(piece.startswith("▁") and letters > 0)

        return np.array([weight(i) for i in range(self.vocab_size)], np.int64)

    def pieces(self, ids: list[int]) -> list[str]:
        return [str(self.sp.IdToPiece(i)) for i in ids]
