"""A sentence's first word in the case the model knows it: truecasing.

Nearly every training caption starts with a handful of words ("A", "Two", "People",
"The"). A sentence that starts with another word gives the model that word capitalized,
which it has rarely or never seen: SentencePiece spells "Horses" in pieces unlike those of
"horses", and the model guesses ("Horses graze in a pasture." -> "Des pompiers se penchent
devant un lieu."). Statistical MT systems truecase their input for this reason (Moses'
truecaser): a sentence-initial word is written as it is usually written inside a sentence.

Here the knowledge comes from the training corpus's English side (`lowercase_words`): the
words that start a sentence capitalized fewer than `MIN_OPENER` times, and that inside a
sentence are more often lowercase than capitalized. The list is saved in the model bundle
(`FILE`); `lower_first` lowercases a sentence's first word if it is on the list ("Horses"
-> "horses", but not "Two", a frequent opener, nor "Boston", a name), and the translation's
first letter is capitalized again (`translator.verbatim`). Bundles without the file are left
as they are.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable
from pathlib import Path

from translator.errors import TranslatorError

FILE = "truecase.txt"
MIN_OPENER = 5  # a word starting this many training sentences capitalized is known to the model that way
WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_HEADER = "# words lowercased at the start of a sentence (translator/truecase.py)"


def lowercase_words(sentences: Iterable[str]) -> list[str]:
    """The words (lowercase, sorted) that a capitalized first word is lowercased to: those
    starting fewer than `MIN_OPENER` of `sentences` capitalized, and more often lowercase than
    capitalized elsewhere in them."""
    opener: collections.Counter[str] = collections.Counter()
    lower: collections.Counter[str] = collections.Counter()
    capital: collections.Counter[str] = collections.Counter()
    for sentence in sentences:
        words = WORD.findall(sentence)
        if words:
            opener[words[0]] += 1
        for word in words[1:]:
            (lower if word.islower() else capital)[word.lower()] += 1
    return sorted(w for w, n in lower.items() if n > capital[w] and opener[capitalized(w)] < MIN_OPENER)


def capitalized(text: str) -> str:
    """`text` with its first letter in capitals, if that keeps its length (offsets into it stay)."""
    first = text[:1].upper()
    return first + text[1:] if len(first) == len(text[:1]) else text


def file_bytes(words: Iterable[str]) -> bytes:
    """The bundle file's contents: one word per line, after a header."""
    return "\n".join([_HEADER, *words]).encode("utf-8") + b"\n"


def load(model_dir: Path) -> frozenset[str]:
    """The bundle's words (empty if it has no `FILE`); an unreadable file is a clear error."""
    path = model_dir / FILE
    if not path.is_file():
        return frozenset()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TranslatorError(f"{path}: cannot read the truecasing words: {exc}") from None
    return frozenset(line for line in lines if line and not line.startswith("#"))


def lower_first(text: str, words: frozenset[str]) -> str | None:
    """`text` with its first word lowercased if `words` has it ("Horses graze." -> "horses
    graze."); None if it does not, or if the word is not capitalized the plain way ("BMX",
    "McDonald", "horses")."""
    m = WORD.match(text)
    if not m:
        return None
    word = m.group()
    low = word.lower()
    if word == low or word != capitalized(low) or low not in words or len(low) != len(word):
        return None
    return low + text[m.end() :]
