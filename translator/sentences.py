"""Sentence splitting of English input text.

The model translates one sentence at a time (it was trained on single-sentence
captions and ends its translation after the first sentence), so a text of
several sentences is split, its sentences are translated, and the translations
are joined with spaces (`Translator.translate`). Batch jobs split overlong lines
the same way.

The boundaries come from pysbd's rule-based English segmenter, which knows
abbreviations and initials ("Mr. Potato Head", "U.S. Navy", "John A. Noble"). A
text with no candidate boundary (sentence-final punctuation followed by more
text) is not handed to it at all, which keeps the common one-sentence case free.
"""

from __future__ import annotations

import functools
import re

import pysbd

from translator.markup import blanked
from translator.verbatim import address_spans

# A candidate sentence end: . ! ? or … (then closing quotes or brackets) followed by whitespace.
_CANDIDATE = re.compile(r"[.!?…]+[\"'”’»)\]]*\s+\S")
_PUNCTUATION_ONLY = re.compile(r"[\W_]+")


@functools.cache
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def _masked(text: str) -> str:
    """`text` with URLs and e-mail addresses blanked out (same length), so that their
    dots are not taken for sentence ends, and tags made spaces (`translator.markup.blanked`)."""
    for start, end in address_spans(text):
        text = text[:start] + "x" * (end - start) + text[end:]
    return blanked(text)


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, stripped; [] for a blank text. Joining them with single
    spaces gives `text` up to whitespace."""
    text = text.strip()
    if not text:
        return []
    masked = _masked(text)
    if not _CANDIDATE.search(masked):
        return [text]
    starts: list[int] = []  # where each sentence starts in `text`; the first at 0, with any tags before it
    for span in _segmenter().segment(masked):
        piece = masked[span.start : span.end].strip()
        if piece and not (starts and _PUNCTUATION_ONLY.fullmatch(piece)):  # "..." cut in two: keep it whole
            starts.append(span.start if starts else 0)
    bounds = zip(starts, [*starts[1:], len(text)], strict=True)
    return [text[start:end].strip() for start, end in bounds]
