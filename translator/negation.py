"""Negated sentences: translated affirmative, then negated where the alignment puts the verb.

The default model learnt captions, which describe what a picture shows; "not" is in 87 of
its 29,000 training sentences, and it drops it: "A man is not wearing a hat." -> "Un
homme porte un chapeau.", the opposite of the source. So a sentence with a negated verb is
translated as its affirmative (`affirm`): "not" and "never" are taken out after an
auxiliary or a modal ("is not", "isn't", "can't", "has never"), "not" before an "-ing"
word becomes a clause ("a man not wearing a shirt" -> "a man who is wearing a shirt"),
"do/does/did not VERB"
becomes the verb in the same person and tense ("does not like" -> "likes", "didn't go" ->
"went"), "no" after "there is/are" or "has/have" is taken out ("There is no water"
-> "There is water"), and a sentence's negative subject becomes a positive one ("No one is
sitting" -> "Someone is sitting", "Nothing" -> "Something"). The model translates that, its cross-attention links
each English verb to French words (`translator.align`), and `negate` puts "ne ... pas"
(or "ne ... jamais") around the French verb those links point to: "Un homme porte un
chapeau." -> "Un homme ne porte pas de chapeau.", as French negates: "ne" before any
clitic pronoun ("ne se tient pas", "il n'y a pas"), elided before a vowel ("n'est pas"),
and an indefinite or partitive article after the verb (other than "être") turned into
"de" ("pas de chapeau", "pas d'eau"). For a negative subject, the translation's
"Quelqu'un" or "Quelque chose" becomes "Personne" or "Rien", and the verb takes "ne" alone:
"Personne n'est assis sur le banc." (without that subject in the translation, "ne ... pas").

A link that points at no word which can be a verb (an article, a preposition, a
pronoun, a word after an article) leaves that negation out: the translation is then
the affirmative one, as the model would have given without the rule.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from lemminflect import getAllLemmas, getInflection

BE = {"is", "are", "was", "were", "am"}
HAVE = {"has", "have", "had"}
MODALS = {"can", "could", "will", "would", "should", "must", "may", "might"}
DO = {"do", "does", "did"}
CONTRACTED = {
    "isn't": "is", "aren't": "are", "wasn't": "was", "weren't": "were", "hasn't": "has", "haven't": "have",
    "hadn't": "had", "can't": "can", "cannot": "can", "couldn't": "could", "won't": "will", "wouldn't": "would",
    "shouldn't": "should", "mustn't": "must", "don't": "do", "doesn't": "does", "didn't": "did",
}  # fmt: skip
_SHORT = ("'s", "'re", "'m")  # "He's not", "They're not", "I'm not"
_VERBS = BE | HAVE | MODALS | DO
# "-ing" words that are nouns: "not" before them negates no verb ("in casual, not clothing")
ING_NOUNS = {
    "clothing", "building", "something", "anything", "nothing", "everything", "morning", "evening", "ceiling",
    "wedding", "railing", "painting", "drawing", "sibling", "string", "spring", "thing", "king", "ring", "wing",
    "swing", "siding", "awning", "landing", "offering", "opening", "meeting", "setting", "bedding", "lighting",
}  # fmt: skip

# French words the verb of a sentence is not: articles, prepositions, subject pronouns, relatives
_NOT_VERBS = {
    "un", "une", "des", "le", "la", "les", "l'", "du", "de", "d'", "au", "aux", "à", "en", "dans", "sur", "avec",
    "pour", "par", "sous", "vers", "chez", "il", "elle", "ils", "elles", "on", "je", "j'", "tu", "qui", "que", "qu'",
    "ne", "n'", "pas", "jamais", "et", "ou", "mais", "son", "sa", "ses", "leur", "leurs", "ce", "cet", "cette",
    "ces", "mon", "ma", "mes", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix",
}  # fmt: skip
# words a finite verb does not follow: articles, determiners and prepositions
_BEFORE_NOUNS = {
    "un", "une", "le", "la", "les", "l'", "des", "du", "son", "sa", "ses", "leur", "leurs", "ce", "cette", "de",
    "d'", "à", "au", "aux", "en", "dans", "sur", "avec", "pour", "par", "sous", "vers", "chez",
}  # fmt: skip
# clitic pronouns between "ne" and the verb ("ne se tient pas", "n'y a pas", "ne lui donne pas")
_CLITICS = {"se", "s'", "me", "m'", "te", "t'", "y", "en", "lui", "leur"}
# forms of "être" (and "être" itself): the article after them stays ("Ce n'est pas un chien")
_ETRE = {"est", "sont", "était", "étaient", "suis", "es", "sommes", "êtes", "sera", "seront", "soit", "être"}
# forms of "être" and "avoir" that come before a participle: the negation goes around them ("n'est pas assis")
_AUXILIARY = _ETRE | {"a", "ont", "avait", "avaient"}
_VOWELS = set("aeiouyàâäéèêëîïôöùûüh")
_SUBJECTS = {"c'": "ce", "j'": "je"}  # a subject pronoun elided onto its verb: "C'est" -> "Ce n'est pas"
_ELIDED = re.compile(r"^([a-zA-Z])['’]")  # "s'apprête", "l'homme"
_PUNCT = ".,;:!?»)\"'"
# a negative subject at the start of a sentence: (the affirmative's subject, the French one)
_NOBODY = {"no one": ("someone", "Personne"), "nobody": ("someone", "Personne"), "nothing": ("something", "Rien")}
_SOMEONE = re.compile(r"^(?:quelqu['’]une?|quelque chose)$", re.IGNORECASE)


# "pas" or "jamais" after whitespace, in the tags a `Negation.french` may hold ("<i>pas</i>")
_NEGATION_WORD = re.compile(r"\s+(?:<[^<>]*>)*(?:pas|jamais)\b(?:</[^<>]*>)*")


@dataclasses.dataclass(frozen=True)
class Negation:
    words: tuple[int, ...]  # the English words (indices into the affirmative's words) of the negated verb
    french: str = "pas"  # "pas" or "jamais" ("never")
    # "Personne" or "Rien": the French subject that replaces the translation's "Quelqu'un" or
    # "Quelque chose" ("No one is sitting" was translated "Someone is sitting"); the verb then
    # takes "ne" alone (`french` if the translation does not start with that word)
    subject: str = ""


def affirm(sentence: str) -> tuple[str, tuple[Negation, ...]] | None:
    """The affirmative of a sentence with negated verbs, and where those verbs are in it;
    None if nothing in it is negated this way. "A man is not wearing a hat." -> ("A man is
    wearing a hat.", (Negation((2, 3)),)); "The dog doesn't like cats." -> ("The dog likes
    cats.", (Negation((2,)),)); "There is no water." -> ("There is water.", (Negation((0, 1)),))."""
    words = sentence.split()
    out: list[str] = []
    negations: list[Negation] = []
    k = 0
    nobody = next((n for n in _NOBODY if [_bare(w) for w in words[: n.count(" ") + 1]] == n.split()), None)
    if nobody and len(words) > nobody.count(" ") + 1:
        # "No one is sitting on the bench" -> "Someone is sitting on the bench", its verb linked
        said, subject = _NOBODY[nobody]
        k = nobody.count(" ") + 1
        out.append(_cased(said, words[0]))
        first, after = _bare(words[k]), _bare(words[k + 1]) if k + 1 < len(words) else ""
        if first in _VERBS and after and after not in ("not", "never"):
            negations.append(Negation((1, 2), subject=subject))
        elif "VERB" in getAllLemmas(first):  # "Nobody swims" (not "Nothing but sand")
            negations.append(Negation((1,), subject=subject))
        else:
            return None
    while k < len(words):
        word = words[k]
        low = _bare(word)
        nxt = _bare(words[k + 1]) if k + 1 < len(words) else ""
        contracted = CONTRACTED.get(low.replace("’", "'"))
        either = bool(out) and _bare(out[-1]) == "or"  # "may or may not": both, no negation
        if not either and (contracted or (nxt in ("not", "never") and (low in _VERBS or low.endswith(_SHORT)))):
            # "isn't" -> "is"; "is not" -> "is" (the word as written, its case kept)
            aux = _cased(contracted, word) + word[len(low) :] if contracted else word
            french = "jamais" if nxt == "never" else "pas"
            k += 1 if contracted else 2
            base = contracted or low
            if base in DO and k < len(words) and words[k][:1].islower():  # "does not like" -> "likes"
                verb = conjugate(base, words[k])
                if verb is None:
                    return None
                negations.append(Negation((len(out),), french))
                out.append(_cased(verb, aux) if not out else verb)
                k += 1
                continue
            there = (len(out) - 1,) if out and _bare(out[-1]) == "there" else ()  # "Il y a": linked to "There"
            negations.append(Negation((*there, len(out), len(out) + 1), french))
            out.append(aux)
            if k < len(words) and _bare(words[k]) == "any":  # "aren't any dogs" -> "are dogs"
                k += 1
            continue
        if low == "not" and out and _bare(out[-1]) not in _VERBS and _participle(nxt):
            # "a man not wearing a shirt" -> "a man who is wearing a shirt", negated as a clause: "qui ne
            # porte pas de T-shirt" (the model wrote "ne porte un T-shirt")
            out.append("who")
            negations.append(Negation((len(out), len(out) + 1)))
            out.append("are" if _plural(out[-2]) else "is")
            k += 1
            continue
        if low == "never" and out and k + 1 < len(words):  # "never smiles", "has never been"
            before = _bare(out[-1])
            at = (len(out) - 1, len(out)) if before in _VERBS else (len(out),)
            negations.append(Negation(at, "jamais"))
            k += 1
            continue
        if nxt == "no" and k + 2 < len(words) and (low in HAVE or (low in BE and out and _bare(out[-1]) == "there")):
            # "There is no water" -> "There is water", "has no shirt" -> "has shirt": without an article,
            # the model gives the one French needs ("Il y a de l'eau", "un chien"), "de" once negated
            # "There is" is "Il y a", linked to "There" more than to "is"
            negations.append(Negation((len(out) - 1, len(out)) if low in BE else (len(out),)))
            out.append(word)
            k += 2
            continue
        out.append(word)
        k += 1
    if not negations:
        return None
    return " ".join(out), tuple(negations)


def _participle(word: str) -> bool:
    """An "-ing" word that is a verb's, not a noun ("clothing", "building")."""
    return len(word) > 4 and word.endswith("ing") and word.isalpha() and word not in ING_NOUNS


def _plural(word: str) -> bool:
    """ "dogs", "people", "men": the verb after them is "are"."""
    bare = _bare(word)
    return (bare.endswith("s") and not bare.endswith("ss")) or bare in ("people", "men", "women", "children", "police")


def _bare(word: str) -> str:
    return word.lower().strip(_PUNCT)


def _cased(word: str, like: str) -> str:
    return word.capitalize() if like[:1].isupper() else word


def conjugate(aux: str, verb: str) -> str | None:
    """The verb that "do" stands for: "does" + "like" -> "likes", "did" + "go" -> "went",
    "do" + "like" -> "like" (punctuation kept); None if `verb` is no word."""
    bare = verb.strip(_PUNCT)
    if not bare.isalpha():
        return None
    if aux == "do":
        return verb
    forms = getInflection(bare.lower(), tag="VBZ" if aux == "does" else "VBD")
    if not forms:
        return None
    return verb.replace(bare, forms[0], 1)


def negate(translation: str, negations: Sequence[Negation], aligned: Sequence[set[int]]) -> str:
    """`translation` (of the affirmative) negated: for each negation, the French words
    `aligned` to its English verb (indices into `translation.split()`) give the verb, which
    "ne" and "pas"/"jamais" go around. A negation whose aligned words hold no verb is left out."""
    words = translation.split()
    someone = _someone(words)  # the translation's "Quelqu'un" / "Quelque chose", in words
    done: dict[int, str] = {}  # the French verb's index -> its negation word
    subject = ""  # the negative subject that replaces them
    for negation, found in zip(negations, aligned, strict=True):
        at = _verb(words, found)
        if at is not None and at not in done:
            if negation.subject and 0 < someone <= at:  # "Personne ne ...", "ne" alone
                subject, done[at] = negation.subject, ""
            else:
                done[at] = negation.french
    for at in sorted(done, reverse=True):  # from the end, so that earlier indices stay
        words = _negated(words, at, done[at])
    if subject:
        words = [subject, *words[someone:]]
    return " ".join(words)


def past_negation(negated: str, at: int) -> int:
    """`at`, an offset into a `negate`d translation, moved past the "pas" or "jamais" that
    follows it: a span the translation had right after the verb ("porte|") goes after the
    verb's negation ("ne porte pas|"), not inside it."""
    m = _NEGATION_WORD.match(negated, at)
    return m.end() if m else at


def _someone(words: Sequence[str]) -> int:
    """How many of `words` make the "Quelqu'un" or "Quelque chose" they start with (0: none)."""
    for n in (1, 2):
        if len(words) >= n and _SOMEONE.match(" ".join(words[:n]).strip(_PUNCT)):
            return n
    return 0


def _verb(words: Sequence[str], found: set[int]) -> int | None:
    """The index of the finite verb among `found`: of the words that can be one, a form of
    "être" or "avoir" if there is one ("Le chat noir est" -> "est"), else the first; a form
    of "être"/"avoir" just before it is taken instead ("est assis" -> "est")."""
    verbs: list[int] = []
    for j in sorted(found):
        if j >= len(words):
            continue
        low = words[j].lower().strip(_PUNCT)
        if not low or low in _NOT_VERBS or not low[0].isalpha():
            continue
        if _ELIDED.match(low) and low[:2] not in ("s'", "m'", "t'", *_SUBJECTS):  # "l'homme", "d'eau": a noun
            continue
        if j > 0 and words[j - 1].lower() in _BEFORE_NOUNS:  # a noun ("un chapeau", "de natation")
            continue
        while low in _CLITICS and j + 1 < len(words):  # "se" of "se tient": the verb is "tient"
            j += 1
            low = words[j].lower().strip(_PUNCT)
        verbs.append(j - 1 if j > 0 and words[j - 1].lower() in _AUXILIARY else j)
    auxiliaries = [j for j in verbs if words[j].lower().strip(_PUNCT) in _AUXILIARY]
    return (auxiliaries or verbs)[0] if verbs else None


def _negated(words: list[str], at: int, french: str) -> list[str]:
    """`words` with the verb at `at` negated with "ne" and `french` ("pas", "jamais")."""
    start = at
    while start > 0 and words[start - 1].lower() in _CLITICS:
        start -= 1
    head = words[start]
    subject = _SUBJECTS.get(head[:2].lower().replace("’", "'"), "")
    if subject:  # "C'est" -> "Ce n'est"
        subject = (subject.capitalize() if head[:1].isupper() else subject) + " "
        head = head[2:]
    ne = "n'" if head[:1].lower() in _VOWELS else "ne "
    if start == 0 and not subject and head[:1].isupper() and not head.isupper():  # "Cours." -> "Ne cours pas."
        ne, head = ne.capitalize(), head[:1].lower() + head[1:]
    verb = head if start == at else words[at]
    stripped = verb.rstrip(_PUNCT)  # "court." -> the "." goes after "pas"
    negated = [subject + ne + (stripped if start == at else head), *words[start + 1 : at]]
    if start < at:
        negated.append(stripped)
    rest = words[at + 1 :]
    if stripped.lower() not in _ETRE and rest:
        rest = _de(rest, partitive=not stripped.lower().startswith("jou"))
    if not french:  # "ne" alone ("Personne ne court."): the verb keeps its punctuation
        negated[-1] += verb[len(stripped) :]
        return [*words[:start], *negated, *rest]
    return [*words[:start], *negated, french + verb[len(stripped) :], *rest]


def _de(rest: list[str], partitive: bool = True) -> list[str]:
    """The object after a negated verb: "un chapeau" -> "de chapeau", "de l'eau" -> "d'eau";
    not `partitive`, "du", "des" and "de la" stay (those of "jouer du piano" are not articles)."""
    head = rest[0].lower()
    if head in (("un", "une", "des", "du") if partitive else ("un", "une")) and len(rest) > 1:
        return [_elide_de(rest[1]), *rest[2:]]
    if head != "de" or len(rest) < 2 or not partitive:
        return rest
    if rest[1].lower() in ("la", "l'"):
        return [_elide_de(rest[2]), *rest[3:]] if rest[1].lower() == "la" and len(rest) > 2 else rest
    if rest[1].lower().startswith("l'"):
        return ["d'" + rest[1][2:], *rest[2:]]
    return rest


def _elide_de(word: str) -> str:
    return "d'" + word if word[:1].lower() in _VOWELS else "de " + word
