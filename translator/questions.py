"""Questions: translated as their statement, then asked with "Est-ce que".

The default model learnt captions, statements that end with a full stop; the inverted
word order of a question is new to it ("Is the dog running?" -> "Je'un chien courant ?").
A question that opens with "is", "are", "was" or "were" (after "where", "why", "how" or
"when", or not), then a subject (a determiner, a number word or a pronoun, and at most
four more words; or "there"), then an "-ing" word or a preposition, is translated as its
statement ("The dog is running.", `statement`), and the translation is asked the way
French asks without inversion (`ask`): "Est-ce que le chien court ?", "Où est-ce que le
chien va ?". `translator.verbatim` applies both around the model and puts the "?" back.
Other questions ("Does the dog like snow?", "What is he doing?") are translated as they are.
"""

from __future__ import annotations

import re

from translator.clauses import SUBJECT, then

AUXILIARIES = ("is", "are", "was", "were")
QUESTION_WORDS = {"where": "Où", "why": "Pourquoi", "how": "Comment", "when": "Quand"}
_PRONOUNS = {"he", "she", "they", "it", "we", "i", "you"}
_PREPOSITIONS = {
    "in", "on", "at", "with", "near", "under", "behind", "beside", "by", "inside", "outside", "into", "onto",
    "over", "above", "below", "next", "along", "across", "through", "around", "against", "between", "among",
    "outdoors", "indoors", "up", "down", "out", "from", "for", "to",
}  # fmt: skip
_SUBJECT_WORD = re.compile(SUBJECT, re.IGNORECASE)
# French words that start a caption's translation and are lowered after "Est-ce que"
# ("Un chien court." -> "Est-ce qu'un chien court"); anything else (a name) keeps its capital
_LOWERED = {
    "un", "une", "le", "la", "les", "des", "du", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf",
    "dix", "il", "elle", "ils", "elles", "on", "ce", "cet", "cette", "ces", "son", "sa", "ses", "leur", "leurs",
    "mon", "ma", "mes", "ton", "ta", "tes", "notre", "nos", "votre", "vos", "quelques", "plusieurs", "beaucoup",
    "je", "tu", "nous", "vous", "certains", "certaines", "de", "d'", "l'",
}  # fmt: skip


def _predicate(word: str) -> bool:
    w = word.lower().strip(",")
    return (len(w) > 4 and w.endswith("ing")) or w in _PREPOSITIONS


def statement(question: str) -> tuple[str, str] | None:
    """(French question word, statement): "Is the dog running" -> ("", "The dog is running"),
    "Where is the dog going" -> ("Où", "The dog is going"); None for other questions.
    `question` without its question mark."""
    words = question.split()
    word = QUESTION_WORDS.get(words[0].lower(), "") if words else ""
    if word:
        words = words[1:]
    if len(words) < 3 or words[0].lower() not in AUXILIARIES:
        return None
    if words[1].lower() == "there":
        end = 2
    else:
        if not _SUBJECT_WORD.fullmatch(words[1]):
            return None
        # a subject of one word only if it is a pronoun ("Is he running"), not "the" of "Is the building tall"
        first = 2 if words[1].lower() in _PRONOUNS else 3
        found = [k for k in range(first, min(len(words), 7)) if _predicate(words[k])]
        if not found:
            return None
        end = found[0]
    subject = words[1:end]
    if subject[0] != "I" and not subject[0].isupper():
        subject[0] = subject[0].lower()
    text = " ".join([*subject, words[0].lower(), *words[end:]])
    return word, text[:1].upper() + text[1:]


def ask(translation: str, word: str = "") -> str:
    """ "Le chien court." -> "Est-ce que le chien court", with `word` "Où" "Où est-ce que le
    chien court" (without the question mark)."""
    text = translation.strip().rstrip(".").rstrip()
    if not text:
        return text
    first = text.split(" ", 1)[0]
    head = first.lower()
    shouted = first.isupper() and len(first) > 1  # "LE CHIEN COURT": the caller puts it all in capitals
    if not shouted and (head in _LOWERED or head[:2] in ("l'", "d'")):
        text = text[:1].lower() + text[1:]
    return then(f"{word} est-ce que" if word else "Est-ce que", text)
