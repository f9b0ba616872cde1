"""Tokenized text back to the natural form the model was trained on, keeping track of
which given tokens each natural word comes from.

Word-alignment data is often tokenized and normalised differently from running text:
the Hansards NAACL-2003 pairs are lowercased, and their French side undoes elisions
and contractions ("de les" for "des", "le homme" for "l'homme", "il ne a" for
"il n'a"). A model trained on ordinary text reads such input as noise. `detokenize`
rewrites it as natural text and returns, for each natural word, the given tokens it
stands for, so that links found on the natural words can be reported over the given
tokens (`to_token_links`):

- French contractions: "de le" -> "du", "de les" -> "des", "à le" -> "au",
  "à les" -> "aux" ("de le"/"à le" not before a vowel: "de l'homme"); one natural
  word for two tokens, so its links go to both.
- French elisions: "le", "la", "de", "ne", "que", "je", "me", "te", "se", "ce" before
  a vowel or h -> "l'", "d'", "n'", "qu'", ... and "si il(s)" -> "s'il(s)"; the elided
  form stays a word of its own, so the tokens stay one-to-one.
- Case: the first letter of the sentence is capitalised, and English "i" -> "I".

Everything else (punctuation, hyphens) stays as given, one word per token.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from translator.errors import TranslatorError

LANGS = ("en", "fr")
_VOWELS = set("aeiouyhàâäéèêëîïôöûüœæ")
_CONTRACTIONS = {("de", "le"): "du", ("de", "les"): "des", ("à", "le"): "au", ("à", "les"): "aux"}
_ELIDED = {w: w[:-1] + "'" for w in ("de", "ne", "que", "je", "me", "te", "se", "ce", "jusque", "lorsque", "puisque")}
_ELIDED |= {"le": "l'", "la": "l'"}


@dataclasses.dataclass
class Detokenized:
    tokens: list[str]  # as given (whitespace-separated)
    words: list[str]  # natural words
    groups: list[list[int]]  # per natural word, the indices of the tokens it stands for

    @property
    def text(self) -> str:
        return " ".join(self.words)


def _starts_with_vowel(word: str) -> bool:
    return bool(word) and word[0].lower() in _VOWELS


def detokenize(text: str, lang: str) -> Detokenized:
    """Natural words for the whitespace tokens of `text` (see the module docstring)."""
    if lang not in LANGS:
        raise TranslatorError(f"detokenize: language must be one of {', '.join(LANGS)}, got {lang!r}")
    tokens = text.split()
    words: list[str] = []
    groups: list[list[int]] = []
    k = 0
    while k < len(tokens):
        tok, nxt = tokens[k], tokens[k + 1] if k + 1 < len(tokens) else ""
        after = tokens[k + 2] if k + 2 < len(tokens) else ""
        low = tok.lower()
        pair = (low, nxt.lower())
        if lang == "fr" and pair in _CONTRACTIONS and not (pair[1] == "le" and _starts_with_vowel(after)):
            words.append(_CONTRACTIONS[pair])
            groups.append([k, k + 1])
            k += 2
            continue
        if lang == "fr" and low in _ELIDED and _starts_with_vowel(nxt):
            word = _ELIDED[low]
        elif lang == "fr" and low == "si" and nxt.lower() in ("il", "ils"):
            word = "s'"
        elif lang == "en" and tok == "i":
            word = "I"
        else:
            word = tok
        words.append(word)
        groups.append([k])
        k += 1
    if words:
        words[0] = words[0][:1].upper() + words[0][1:]
    return Detokenized(tokens, words, groups)


def to_token_links(
    links: Sequence[tuple[int, int, float]], source: Detokenized, target: Detokenized
) -> list[tuple[int, int, float]]:
    """Links between natural words -> links between the given tokens (each natural
    word's links go to every token it stands for), sorted, each pair once."""
    best: dict[tuple[int, int], float] = {}
    for i, j, score in links:
        for a in source.groups[i]:
            for b in target.groups[j]:
                best[(a, b)] = max(score, best.get((a, b), score))
    return sorted((a, b, s) for (a, b), s in best.items())


def to_word_links(links: Sequence[tuple[int, int]], source: Detokenized, target: Detokenized) -> list[tuple[int, int]]:
    """Links between the given tokens -> links between the natural words that stand
    for them (the inverse of `to_token_links`), sorted, each pair once."""
    src_word = {a: w for w, group in enumerate(source.groups) for a in group}
    tgt_word = {b: w for w, group in enumerate(target.groups) for b in group}
    try:
        return sorted({(src_word[a], tgt_word[b]) for a, b in links})
    except KeyError as e:
        raise TranslatorError(f"link token {e.args[0]} is out of range") from None
