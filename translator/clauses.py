"""Long sentences translated clause by clause.

The default model learnt from captions of about 12 words. Given a sentence two or
three times that long, it translates the start and drops the rest: on test_2016
captions joined in threes with ", and " (about 38 words), its translations are 31%
shorter than the references, and score 29.4 BLEU against 58.7 clause by clause
(`reports/long_sentences.md`). So a sentence of more than `LONG_WORDS` words is cut
where one clause ends and the next begins (", and", ", but" or ", while" followed by
a subject: "a", "the", "two", "he", ...; or ";"), each clause is translated as a
sentence of its own (capitalised, as the captions are), and the translations are
joined with the French connector (", et", ", mais", ", tandis que", " ;"), each
following clause in lower case again. A cut leaves at least `MIN_CLAUSE_WORDS` words
on both sides; a shorter sentence, or one without such a boundary, is one clause.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from translator.frames import frame

LONG_WORDS = 20  # a sentence of more words than this is split at its clause boundaries
MIN_CLAUSE_WORDS = 4  # words a clause must keep on each side of a cut
# what starts a clause with a subject of its own after ", and" / ", but" / ", while": a determiner,
# a number word or a pronoun ("while a clown runs"), not a verb or a participle ("and are
# talking", "while holding the mask") nor the rest of a list ("striped shirt, and blue jeans")
SUBJECT = (
    r"(?:a|an|the|another|one|two|three|four|five|six|seven|eight|nine|ten|some|several|many|"
    r"his|her|their|its|my|our|your|this|that|these|those|he|she|they|it|we|i|you|people)\b"
)
_BOUNDARY = re.compile(rf",\s+(and|but|while)\s+(?={SUBJECT})|\s*(;)\s+", re.IGNORECASE)
FRENCH = {"and": "et", "but": "mais", "while": "tandis que", ";": ";"}
_VOWEL = set("aeiouyàâäéèêëîïôöùûü")


def then(phrase: str, text: str) -> str:
    """`phrase` followed by `text`, its final "que" elided before a vowel: "tandis qu'une
    femme", "Est-ce qu'il pleut"."""
    if phrase[-3:].lower() == "que" and text[:1].lower() in _VOWEL:
        return f"{phrase[:-1]}'{text}"
    return f"{phrase} {text}"


@dataclasses.dataclass(frozen=True)
class Clause:
    text: str  # what the model translates
    joiner: str = ""  # the English connector before it ("and", "but", "while", ";"); "" for the first
    lowered: bool = False  # it began in lower case: the model saw it capitalised, its translation is lowered
    frame: tuple[str, str] = ("", "")  # the first clause: the sentence's frame (`translator.frames`), put back


def split_clauses(sentence: str) -> list[Clause]:
    """The clauses of `sentence` to translate one by one; [Clause(sentence)] unless it is long
    and has a clause boundary with `MIN_CLAUSE_WORDS` words on both sides. The clauses of a
    sentence in a frame ('"A man ..., and a woman ..."') are those of what it holds, the
    first carrying the frame."""
    if len(sentence.split()) <= LONG_WORDS:
        return [Clause(sentence)]
    head, inside, tail = frame(sentence)
    clauses = _clauses(inside)
    if len(clauses) == 1:
        return [Clause(sentence)]
    clauses[0] = dataclasses.replace(clauses[0], frame=(head, tail))
    return clauses


def _clauses(sentence: str) -> list[Clause]:
    cuts: list[tuple[int, int, str]] = []  # (end of the clause before, start of the next, connector)
    start = 0
    for m in _BOUNDARY.finditer(sentence):
        before, after = sentence[start : m.start()], sentence[m.end() :]
        if len(before.split()) >= MIN_CLAUSE_WORDS and len(after.split()) >= MIN_CLAUSE_WORDS:
            cuts.append((m.start(), m.end(), (m.group(1) or m.group(2)).lower()))
            start = m.end()
    clauses = []
    start, joiner = 0, ""
    for end, nxt, connector in [*cuts, (len(sentence), len(sentence), "")]:
        text = sentence[start:end].strip()
        lowered = bool(joiner) and text[:1].islower()
        clauses.append(Clause(text[:1].upper() + text[1:] if lowered else text, joiner, lowered))
        start, joiner = nxt, connector
    return clauses


def join_clauses(clauses: Sequence[Clause], translations: Sequence[str]) -> str:
    """One translation from the translations of `clauses`, in order: each following clause
    joined with its French connector (in capitals if every translation is: the source was
    in capitals, `translator.verbatim`), "que" elided before a vowel ("tandis qu'une
    femme"), and the sentence's frame around it all."""
    upper = all(t.isupper() for t in translations)
    out = ""
    for clause, text in zip(clauses, translations, strict=True):
        text = text.strip()
        if not clause.joiner:
            out = text
            continue
        if clause.lowered and not text.split(" ", 1)[0].isupper():
            text = text[:1].lower() + text[1:]
        connector = FRENCH[clause.joiner]
        connector = connector.upper() if upper else connector
        out = out.rstrip().rstrip(".,;").rstrip()
        out += " ; " + text if connector == ";" else ", " + then(connector, text)
    head, tail = clauses[0].frame if clauses else ("", "")
    return head + out + tail
