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

A question for where, who or what colour something is ("Where is the dog?", "Who is the
man in the red shirt?", "What color is the car?") is translated as that noun phrase alone
("The dog." -> "Le chien."), which goes after the French question: "Où est le chien ?";
so is "How many dogs are there?": "Dogs." -> "Des chiens." -> "Combien de chiens y a-t-il ?".

A negative question ("Isn't the dog running?", "Who is not wearing a hat?") gives its
statement with "not" after the auxiliary ("The dog is not running"), which
`translator.negation` negates in turn: "Est-ce que le chien ne court pas ?", "Qui ne
porte pas de chapeau ?".

A question with "do", "does" or "did" ("Does the dog like snow?", "Where did the man go?",
"What does the dog hold?") gives its statement with the verb conjugated (lemminflect:
"The dog likes snow", "The man went", "The dog holds something") and is asked the same way:
"Est-ce que le chien aime la neige ?". Its verb is the first base-form verb after a noun
that cannot be an adjective ("the big dog like": "like", not "dog"); with a negation the
statement keeps "does not" ("Doesn't the dog like snow" -> "The dog does not like snow"),
which `translator.negation` handles.

A statement with a question tag ("The dog is running, isn't it?", "You like snow, don't
you?") is translated as the statement, and asked with the French tag: "Le chien court,
n'est-ce pas ?" (`TAG`).

`translator.verbatim` applies both around the model and puts the "?" back. Other
questions ("How many dogs are in the park?", "Do you like snow?") are translated as they are.
"""

from __future__ import annotations

import re

from lemminflect import getAllLemmas

from translator.clauses import SUBJECT, then
from translator.negation import CONTRACTED, conjugate

AUXILIARIES = ("is", "are", "was", "were")
DO = ("do", "does", "did")
# "isn't" -> "is", "doesn't" -> "does": the contractions a question opens with
_NEGATED_AUXILIARIES = {k: v for k, v in CONTRACTED.items() if v in AUXILIARIES or v in DO}
QUESTION_WORDS = {"where": "Où", "why": "Pourquoi", "how": "Comment", "when": "Quand"}
# questions that ask where, who or what colour something is: "Où est le chien ?"
NOUN_QUESTIONS = {"where": "Où", "who": "Qui", "what color": "De quelle couleur", "what colour": "De quelle couleur"}
_PRONOUNS = {"he", "she", "they", "it", "we", "i", "you"}
# the French tag for a statement with an English one ("..., isn't it?"), as the question word `statement` gives
TAG = "n'est-ce pas"
_TAG_VERBS = sorted({*CONTRACTED, *CONTRACTED.values()}, key=len, reverse=True)  # "isn't", "is", "won't", "will"
_TAG_SUBJECTS = "|".join([*_PRONOUNS, "there"])
_TAGGED = re.compile(
    rf"^(.*\w.*?),\s*(?:{'|'.join(_TAG_VERBS)})(?:\s+not)?\s+(?:{_TAG_SUBJECTS})$".replace("'", "['’]"), re.IGNORECASE
)
_PREPOSITIONS = {
    "in", "on", "at", "with", "near", "under", "behind", "beside", "by", "inside", "outside", "into", "onto",
    "over", "above", "below", "next", "along", "across", "through", "around", "against", "between", "among",
    "outdoors", "indoors", "up", "down", "out", "from", "for", "to",
}  # fmt: skip
_SUBJECT_WORD = re.compile(SUBJECT, re.IGNORECASE)
_PARTITIVE = re.compile(r"^(?:des|les|de|d['’]|une?|le|la|l['’])\s*", re.IGNORECASE)  # "Des chiens" -> "chiens"
_VOWELS = set("aeiouyàâéèêëîïôùûh")
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


def _noun_question(opening: str, words: list[str]) -> tuple[str, str] | None:
    """("Où est", "The dog") for "where" and ["is", "the", "dog"]: a question about a noun
    phrase (a determiner and at most five more words, no pronoun: "the man in the red
    shirt"), whose translation goes after the French question ("Où est le chien"). "Where"
    comes here only when no "-ing" word follows the subject (`statement`)."""
    french = NOUN_QUESTIONS.get(opening)
    if not french or not 3 <= len(words) <= 7 or words[0].lower() not in ("is", "are"):
        return None
    if not _SUBJECT_WORD.fullmatch(words[1]) or words[1].lower() in _PRONOUNS:
        return None
    phrase = " ".join(words[1:])
    return f"{french} {'est' if words[0].lower() == 'is' else 'sont'}", phrase[:1].upper() + phrase[1:]


def statement(question: str) -> tuple[str, str] | None:
    """(French question word, statement): "Is the dog running" -> ("", "The dog is running"),
    "Where is the dog going" -> ("Où", "The dog is going"), "Who is running" -> ("Qui",
    "Someone is running"), "What is the dog holding" -> ("Que", "The dog is holding
    something"), "Where is the dog" -> ("Où est", "The dog"), "What color is the car" ->
    ("De quelle couleur est", "The car"), "How many dogs are there" -> ("Combien", "Dogs"); None
    for other questions. `question` without its
    question mark. A statement with a question tag: ("n'est-ce pas", the statement) (`TAG`)."""
    tagged = _TAGGED.match(question)
    if tagged:
        return TAG, tagged.group(1)
    words, negated = _without_not(question.split())
    opening = words[0].lower() if words else ""
    asked = words[1:] if opening in QUESTION_WORDS or opening == "what" else words
    if asked and asked[0].lower() in DO:
        return _do_statement(opening, asked, negated)
    said = _statement(words)
    if said is None or not negated:
        return said
    word, text = said
    if word.endswith((" est", " sont")) or word == "Combien":  # a noun phrase: nothing to negate
        return None
    # "Isn't the dog running" -> "The dog is not running" (negated in turn, `translator.negation`)
    said_words = text.split()
    aux = next((k for k, w in enumerate(said_words) if w.lower() in AUXILIARIES), None)
    if aux is None:
        return None
    return word, " ".join([*said_words[: aux + 1], "not", *said_words[aux + 1 :]])


def _without_not(words: list[str]) -> tuple[list[str], bool]:
    """The words of a question without its negation, and whether it had one: "Isn't the dog
    running" and "Is the dog not running" -> ("Is the dog running", True)."""
    for k, word in enumerate(words[:2]):
        plain = _NEGATED_AUXILIARIES.get(word.lower().replace("’", "'"))
        if plain:
            return [*words[:k], word[:1] + plain[1:], *words[k + 1 :]], True
    aux = next((k for k, w in enumerate(words[:2]) if w.lower() in AUXILIARIES or w.lower() in DO), None)
    if aux is not None and "not" in words[aux + 1 : aux + 7]:
        k = words.index("not", aux + 1)
        return [*words[:k], *words[k + 1 :]], True
    return words, False


def _do_statement(opening: str, words: list[str], negated: bool) -> tuple[str, str] | None:
    """The statement of a question with "do": `opening` its question word (or its first
    word), `words` from "do", "does" or "did" on: ["does", "the", "dog", "like", "snow"] ->
    ("", "The dog likes snow"); negated: "The dog does not like snow"."""
    aux = words[0].lower()
    if len(words) < 3 or not _SUBJECT_WORD.fullmatch(words[1]) or words[1].lower() in ("i", "you"):
        return None
    if words[1].lower() in _PRONOUNS:  # "does he like": the verb follows
        k: int | None = 2 if _base_verb(words[2]) else None
    else:  # the first base-form verb after a noun that is not also an adjective ("the big dog like")
        k = next((k for k in range(3, min(len(words), 10)) if _base_verb(words[k]) and _noun(words[k - 1])), None)
    if k is None:
        return None
    verb, rest = words[k].lower(), words[k + 1 :]
    predicate = [aux, "not", verb] if negated else [conjugate(aux, verb) or verb]
    word = QUESTION_WORDS.get(opening, "")
    if opening == "what":  # the object is asked for: "The dog holds something", "... plays with something"
        rest = _something(rest)
        word = "Que"
    elif opening != aux and not word:  # "Who does ...", "Which ...": not handled
        return None
    return word, _said(words[1:k], [*predicate, *rest])


def _something(rest: list[str]) -> list[str]:
    """What follows a verb whose object is asked for, with "something" as the object: ["with"]
    -> ["with", "something"], ["in", "the", "park"] -> ["something", "in", "the", "park"]."""
    return [*rest, "something"] if len(rest) == 1 and rest[0].lower() in _PREPOSITIONS else ["something", *rest]


def _said(subject: list[str], rest: list[str]) -> str:
    """A statement, capitalized: `subject`, its first word lowercased unless it is "I" or in
    capitals ("the dog", "BMX riders"), then `rest`."""
    first = subject[0] if subject[0] == "I" or subject[0].isupper() else subject[0].lower()
    text = " ".join([first, *subject[1:], *rest])
    return text[:1].upper() + text[1:]


def _base_verb(word: str) -> bool:
    w = word.lower()
    return w.isalpha() and w in getAllLemmas(w).get("VERB", ())


def _noun(word: str) -> bool:
    """A word that ends a noun phrase: it can be a noun and cannot be an adjective."""
    lemmas = getAllLemmas(word.lower().strip(","))
    return "NOUN" in lemmas and "ADJ" not in lemmas


def _statement(words: list[str]) -> tuple[str, str] | None:
    if " ".join(words[:2]).lower() in ("what color", "what colour"):
        return _noun_question(" ".join(words[:2]).lower(), words[2:])
    if [w.lower() for w in words[:2]] == ["how", "many"] and [w.lower() for w in words[-2:]] == ["are", "there"]:
        things = words[2:-2]  # "How many dogs are there": "Dogs"
        if not 1 <= len(things) <= 4 or _SUBJECT_WORD.fullmatch(things[0]):
            return None
        phrase = " ".join(things)
        return "Combien", phrase[:1].upper() + phrase[1:]
    opening = words[0].lower() if words else ""
    word = QUESTION_WORDS.get(opening, "")
    if word or opening in ("who", "what"):
        words = words[1:]
    if len(words) < 2 or words[0].lower() not in AUXILIARIES:
        return None
    aux = words[0].lower()
    if opening == "who":  # the subject is asked for: "Someone is riding a bike"
        if not _predicate(words[1]):
            return _noun_question(opening, words)
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
        # "Where is the man in the park", "... the man wearing a hat": a place for a noun phrase ("Où
        # est l'homme dans le parc"), not the statement "The man is in the park" asked where
        where_noun = opening == "where" and not any(_ing(w) and w.lower() != "wearing" for w in words)
        noun = _noun_question(opening, words) if where_noun or not found else None
        if noun or not found:
            return noun
        end = found[0]
    rest = words[end:]
    if opening == "what":  # the object is asked for: "The dog is holding something", "... playing with something"
        if words[1].lower() == "there" or not _ing(rest[0]):
            return None
        rest = [rest[0], *_something(rest[1:])]
        word = "Que"
    return word, _said(words[1:end], [aux, *rest])


def ask(translation: str, word: str = "") -> str:
    """ "Le chien court." -> "Est-ce que le chien court", with `word` "Où" "Où est-ce que le
    chien court" (without the question mark). `word` "Qui": "Quelqu'un court." -> "Qui court";
    "Que": "Le chien tient quelque chose." -> "Qu'est-ce que le chien tient", "Le chien joue
    avec quelque chose." -> "Avec quoi est-ce que le chien joue". Where the translation does
    not have the "quelqu'un" or "quelque chose" of its statement, it is asked as a yes/no
    question. A `word` ending with "est" or "sont" asks about a noun phrase: "Le chien." ->
    "Où est le chien"; "Combien" how many: "Des chiens." -> "Combien de chiens y a-t-il"."""
    text = translation.strip().rstrip(".").rstrip()
    if not text:
        return text
    if word == TAG:  # "Le chien court" -> "Le chien court, n'est-ce pas"
        return f"{text}, {TAG}"
    noun = word.endswith((" est", " sont"))  # "Où est" + "le chien"
    if word == "Combien":  # "Des chiens" -> "Combien de chiens y a-t-il"
        things = _PARTITIVE.sub("", text)
        of = "d'" if things[:1].lower() in _VOWELS else "de "
        return f"Combien {of}{things} y a-t-il"
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
    if noun:
        return f"{word} {text}"
    if word == "Qu'est-ce":
        return then("Qu'est-ce que", text)
    return then(f"{word} est-ce que" if word else "Est-ce que", text)
