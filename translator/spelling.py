"""Misspelt words, corrected to the word of the training corpus they most likely are.

People's captions have typos ("a man demonstarting", "carying", "buiding") and words run
together ("bullrider", "racecar"). The model never saw those spellings: SentencePiece cuts
them into pieces rarely seen together, and the model garbles the word ("A boy wearing
headphzones" -> "Un garçon portant des clous", reports/spelling.md), often its neighbours too.
Spelling checkers fix such words before anything reads them; so does this product.

A lowercase word of `MIN_LENGTH` letters or more that is no English word (not in
pyspellchecker's English word list) and that the training corpus never had, or had as a
typo of its own (`_RARE` times at most, `_MORE` times less often than the word), is
replaced with the corpus word one edit away that the corpus has most often: a letter
deleted, inserted or replaced, two neighbours swapped, a hyphen inserted; or a space, between
two corpus words of 3 letters or more, in a word the corpus never had. A hyphenated corpus
word wins over the others ("tshirt" -> "t-shirt", though the corpus has "shirt" more
often). So is the sentence's first word, in lowercase, and capitalized again ("Peopel" ->
"People"). Words the corpus or the word list knows ("fox", "tabs", "roger"; "Maria",
"Eiffel" first), other capitalized words (names), short words ("dgo") and words with no
corpus word one edit away stay as they are.

British spellings are words, but the corpus (American captions) has few: "grey" 0 times
against "gray" 343, "centre" once against "center" 31. A word the corpus has that much
less often than its American spelling ("colour", "centre", "organise", "travelling",
"catalogue", "grey", "tyre": `_american`) becomes that spelling.

The counts come from the training corpus's English side (`word_counts`), saved in the model
bundle (`FILE`, written by `translator train`; `scripts/add_word_lists.py` adds it to an
older bundle). A bundle without the file has no speller.
"""

from __future__ import annotations

import collections
import functools
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from translator.errors import TranslatorError
from translator.truecase import WORD

FILE = "words.txt"
_RARE = 2  # a word the corpus has more often than this is no typo of its own ("frisbees", "hoodies")
MIN_LENGTH = 4  # shorter words have too many neighbours ("dgo": "dog", "ego", "do")
_MIN_PART = 3  # a word split in two: both parts this long ("bullrider" -> "bull rider", not "server al")
# a British spelling (or a typo the corpus has) becomes the American one (the word) if the
# corpus has that more than this many times as often, and twice or more ("centre" 1, "center"
# 31; "travelling" 2, "traveling" 11; "childern" 2, "children" 758)
_MORE = 5
_CACHE_WORDS = 1 << 16  # corrections remembered per speller (least recently used dropped)
# British spellings (a pattern) and the American (its replacement); `_american`
_BRITISH = [
    (re.compile(p), a)
    for p, a in [
        (r"(?<=[a-z]{3})our(?=s?$|ful|ite|hood|ing|ed|er|ly|ist)", "or"),
        (r"(?<=[a-z]{2}[^aeiou])re(?=s?$|d$)", "er"),
        (r"(?<=[a-z]{2})is(?=e[sd]?$|ing$|ation)", "iz"),
        (r"(?<=[a-z])yse(?=[sd]?$)", "yze"),
        (r"(?<=[aeiou])ll(?=ed$|ing$|er$|ers$|ery$)", "l"),
        (r"(?<=[a-z]{3})ogue(?=s?$)", "og"),
        (r"^practis", "practic"),
        (r"grey", "gray"),
        (r"^tyre", "tire"),
        (r"^pyjama", "pajama"),
        (r"^aeroplane", "airplane"),
        (r"^kerb", "curb"),
        (r"moustache", "mustache"),
        (r"^plough", "plow"),
        (r"jewellery", "jewelry"),
    ]
]
_HEADER = "# the training corpus's English words and their counts (translator/spelling.py)"
# a lowercase word on its own: not part of a hyphenated word, a contraction, a number or a name
LOWERCASE = re.compile(r"(?<![\w'’-])[a-z]+(?![\w'’-])")
_FIRST = re.compile(r"^[A-Z][a-z]+(?![\w'’-])")  # a sentence's first word, capitalized


def word_counts(sentences: Iterable[str]) -> collections.Counter[str]:
    """How often each word (lowercased; hyphenated words whole: "t-shirt") occurs in `sentences`."""
    counts: collections.Counter[str] = collections.Counter()
    for sentence in sentences:
        counts.update(w.lower() for w in WORD.findall(sentence))
    return counts


def file_bytes(counts: collections.Counter[str]) -> bytes:
    """The bundle file's contents: "word count" lines, most frequent first, after a header."""
    return "\n".join([_HEADER, *(f"{w} {n}" for w, n in counts.most_common())]).encode("utf-8") + b"\n"


def load(model_dir: Path) -> Speller | None:
    """The bundle's speller, None if it has no `FILE`; an unreadable file is a clear error."""
    path = model_dir / FILE
    if not path.is_file():
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        counts = {w: int(n) for w, n in (line.rsplit(" ", 1) for line in lines if line and not line.startswith("#"))}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TranslatorError(f"{path}: cannot read the word counts: {exc}") from None
    return Speller(counts)


class Speller:
    """Corrects misspelt words against a corpus's word counts."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        # a word's correction depends on the word alone, and words repeat across texts (uncached,
        # a 20,000-line greedy batch job spent 2.4 of its 28.8 s here, by cProfile)
        self._word = functools.lru_cache(maxsize=_CACHE_WORDS)(self._correct)

    def __reduce__(self) -> tuple[type[Speller], tuple[dict[str, int]]]:
        return Speller, (self.counts,)  # pickled without its cache (which cannot be)

    def __call__(self, text: str) -> str | None:
        """`text` with its misspelt words corrected ("A man is wlaking." -> "A man is
        walking."); None if none is."""
        found = self.corrections(text)
        out, pos = [], 0
        for m, fixed in found:
            out += [text[pos : m.start()], fixed]
            pos = m.end()
        return "".join([*out, text[pos:]]) if found else None

    def load_word_list(self) -> None:
        """Load the English word list now (half a second), not in the first call that needs it."""
        _english()

    def corrections(self, text: str) -> list[tuple[re.Match[str], str]]:
        """The misspelt words of `text` (matches) and their corrections, in order; its first
        word too, capitalized ("Peopel" -> "People"), unless the word list has it in lowercase
        (names: "Maria", "Boston")."""
        found = []
        first = _FIRST.match(text)
        if first is not None:
            fixed = self.word(first.group().lower())
            if fixed is not None:
                found.append((first, fixed[:1].upper() + fixed[1:]))
        found += ((m, fixed) for m in LOWERCASE.finditer(text) if (fixed := self.word(m.group())) is not None)
        return found

    def word(self, word: str) -> str | None:
        """The correction of a lowercase `word`, None if it needs none or has none."""
        return self._word(word)

    def _correct(self, word: str) -> str | None:
        if len(word) < MIN_LENGTH:
            return None
        n = self.counts.get(word, 0)  # (the corpus has typos too: "childern" twice, "children" 758 times)
        american = [c for c in _american(word) if self.counts.get(c, 0) > max(_MORE * n, 1)]
        if american:
            return max(american, key=lambda c: (self.counts[c], c))
        if is_english(word) or n > _RARE:
            return None
        # (a word the corpus has is not split: "parkour", not "park our")
        found = {c: k for c in _edits(word) if (k := self._count(c)) > _MORE * n and not (n and " " in c)}
        # a hyphen left out is the likeliest edit of all: "tshirt" is "t-shirt", not the commoner "shirt"
        return max(found, key=lambda c: ("-" in c, found[c], c)) if found else None

    def _count(self, candidate: str) -> int:
        """How often the corpus has `candidate`; for two words, the rarer's count."""
        if " " not in candidate:
            return self.counts.get(candidate, 0)
        parts = candidate.split(" ")
        return min(self.counts.get(p, 0) if len(p) >= _MIN_PART else 0 for p in parts)


def is_english(word: str) -> bool:
    """Whether pyspellchecker's English word list (160,000 words, names among them) has the
    lowercase `word`."""
    return word in _english()


@functools.cache
def _english() -> Any:
    """pyspellchecker's English checker, loaded on first use (half a second)."""
    from spellchecker import SpellChecker

    return SpellChecker(language="en", distance=1)


def _american(word: str) -> Iterator[str]:
    """The American spellings `word` may have, if it is British: "colour" -> "color", "centre"
    -> "center", "organise" -> "organize", "travelling" -> "traveling", "catalogue" ->
    "catalog", "grey" -> "gray" (and the words they are part of: "colourful", "centres")."""
    for british, american in _BRITISH:
        for m in british.finditer(word):
            yield word[: m.start()] + m.expand(american) + word[m.end() :]


def _edits(word: str) -> Iterator[str]:
    """The strings one edit away from `word`: pyspellchecker's (a letter deleted, inserted or
    replaced, two neighbours swapped), and a hyphen or a space inserted inside."""
    yield from _english().edit_distance_1(word)
    for i in range(1, len(word)):
        yield word[:i] + "-" + word[i:]
        yield word[:i] + " " + word[i:]
