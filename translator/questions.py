"""Questions: translated as their statement, then asked the French way without inversion.

The default model learnt captions, statements that end with a full stop; the inverted
word order of a question is new to it ("Is the dog running?" -> "Je'un chien courant ?").
A question that opens with "is", "are", "was" or "were" (after "where", "why", "how" or
"when", or not), then a subject (a determiner, a number word or a pronoun, and at most
four more words; or "there"), then an "-ing" word or a preposition, is translated as its
statement ("The dog is running.", `statement`), and the translation is asked the way
French asks without inversion (`ask`): "Est-ce que le chien court ?", "Où est-ce que le
chien va ?". Two more forms ask for a part of the sentence, which the statement holds as
"someone" or "something", words the model translates reliably ("quelqu'un", "quelque
chose"), and the question puts "qui" or "quoi" in their place:

- "Who is riding a bike?" -> "Someone is riding a bike." -> "Quelqu'un fait du vélo." ->
  "Qui fait du vélo ?";
- "What is the man holding?" -> "The man is holding something." -> "L'homme tient quelque
  chose." -> "Qu'est-ce que l'homme tient ?"; "What is the dog playing with?" -> "Avec quoi
  est-ce que le chien joue ?".

`translator.verbatim` applies both around the model and puts the "?" back. Other
questions ("Does the dog like snow?", "What color is the car?") are translated as they are.
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
_SOMEONE = re.compile(r"quelqu['’]une?\s+", re.IGNORECASE)  # "Quelqu'un fait du vélo"
# "quelque chose" and the preposition before it, if any ("joue avec quelque chose")
_SOMETHING = re.compile(
    r"(?:\b(à|sur|avec|dans|de|pour|vers|sous|chez|contre|par|derrière|devant)\s+)?\bquelque chose\b", re.IGNORECASE
)
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
    return _ing(w) or w in _PREPOSITIONS


def _ing(word: str) -> bool:
    return len(word) > 4 and word.lower().endswith("ing")


def statement(question: str) -> tuple[str, str] | None:
    """(French question word, statement): "Is the dog running" -> ("", "The dog is running"),
    "Where is the dog going" -> ("Où", "The dog is going"), "Who is running" -> ("Qui",
    "Someone is running"), "What is the dog holding" -> ("Que", "The dog is holding
    something"); None for other questions. `question` without its question mark."""
    words = question.split()
    opening = words[0].lower() if words else ""
    word = QUESTION_WORDS.get(opening, "")
    if word or opening in ("who", "what"):
        words = words[1:]
    if len(words) < 2 or words[0].lower() not in AUXILIARIES:
        return None
    aux = words[0].lower()
    if opening == "who":  # the subject is asked for: "Someone is riding a bike"
        if not _predicate(words[1]):
            return None
        return "Qui", " ".join(["Someone", "was" if aux in ("was", "were") else "is", *words[1:]])
    if len(words) < 3:
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
    rest = words[end:]
    if opening == "what":  # the object is asked for: "The dog is holding something", "... playing with something"
        if words[1].lower() == "there" or not _ing(rest[0]):
            return None
        ends_with_preposition = len(rest) == 2 and rest[1].lower() in _PREPOSITIONS
        rest = [*rest, "something"] if ends_with_preposition else [rest[0], "something", *rest[1:]]
        word = "Que"
    text = " ".join([*subject, aux, *rest])
    return word, text[:1].upper() + text[1:]


def ask(translation: str, word: str = "") -> str:
    """ "Le chien court." -> "Est-ce que le chien court", with `word` "Où" "Où est-ce que le
    chien court" (without the question mark). `word` "Qui": "Quelqu'un court." -> "Qui court";
    "Que": "Le chien tient quelque chose." -> "Qu'est-ce que le chien tient", "Le chien joue
    avec quelque chose." -> "Avec quoi est-ce que le chien joue". Where the translation does
    not have the "quelqu'un" or "quelque chose" of its statement, it is asked as a yes/no
    question."""
    text = translation.strip().rstrip(".").rstrip()
    if not text:
        return text
    if word == "Qui":
        someone = _SOMEONE.match(text)
        if someone:
            return "Qui " + text[someone.end() :]
        word = ""
    elif word == "Que":
        found = _SOMETHING.search(text)
        if found:
            text = " ".join((text[: found.start()] + text[found.end() :]).split())
            preposition = found.group(1)
            word = f"{preposition.capitalize()} quoi" if preposition else "Qu'est-ce"
        else:
            word = ""
    first = text.split(" ", 1)[0]
    head = first.lower()
    shouted = first.isupper() and len(first) > 1  # "LE CHIEN COURT": the caller puts it all in capitals
    if not shouted and (head in _LOWERED or head[:2] in ("l'", "d'")):
        text = text[:1].lower() + text[1:]
    if word == "Qu'est-ce":
        return then("Qu'est-ce que", text)
    return then(f"{word} est-ce que" if word else "Est-ce que", text)
