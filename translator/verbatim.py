"""Text the model must not translate: spans copied verbatim, and all-capitals input.

The default model knows the vocabulary of its training captions. A URL, an e-mail
address, a hashtag, a number of several digits, an emoji or a word in a script the tokenizer
does not cover is noise to it: it garbles the span ("number 1102" -> "numéro 4 4 4
4") and often the rest of the sentence with it ("Visit https://example.com today."
-> "Des violonistes s'occupent de l'air ..."). Translation services copy such
spans through; this module does that, in three steps:

1. `prepare` finds the spans (`find_spans`) and cuts them out of the sentence; the
   model translates what is left (`Prepared.text`). A sentence in capitals only
   ("A MAN IS RUNNING.") is translated in sentence case and its translation is
   put in capitals again, since the model has hardly seen capitals. A sentence in
   Title Case ("A Man Is Running In The Park") is translated in sentence case, and
   so is its translation (as French writes titles); words with capitals inside
   ("BMX", "McDonald") keep them.
   A question or an exclamation ("Do you like snow?"), or a sentence trailing off
   ("A dog runs..."), is translated with a full stop, the sentence end of nearly all the
   training captions (4 of 29,000 end with "?"), and its mark is put back, "?" and "!"
   French-spaced ("... court ?"); the model drops it otherwise. A question such as "Is
   the dog running?", "Where is the dog going?", "Who is running?", "What is the dog
   holding?" or "Does the dog like snow?" is translated as its statement and asked the
   French way ("Est-ce que le chien court ?", "Où est-ce que le chien va ?", "Qui court ?",
   "Qu'est-ce que le chien tient ?", `translator.questions`). A sentence with a negated
   verb is translated as its affirmative, and the translation negated where the attention
   puts the verb (`translator.negation`). Spans cut out move with the words around them
   through both edits, and through the negation of the translation (`moved`). A sentence
   starting with a word the model knows in lowercase only ("Horses graze in a pasture.") is
   translated with that word lowercased and its translation's first letter capitalized
   (`translator.truecase`); a word in capitals inside a sentence that is not ("A DOG
   runs") is translated in lowercase, and the words its attention links to put in capitals
   (`unemphasized`, `capitals`).
2. The cross-attention of the translation says where each span goes: a span cut out
   between source pieces k-1 and k is inserted at the target word boundary that
   best separates the target pieces attending to source pieces before k from those
   attending to pieces from k on (`insertion_points`); a pair of brackets or tags goes
   around the target words attending to the source words it held. Spans keep their order.
3. `restore` inserts the spans there with the spacing they had in the source.

Brackets around words inside a sentence ("A man is riding a bike (in the park).") are
cut out as two spans, and the words they held translated with the sentence: put back
where the attention says, they hold the translation of those words ("Un homme fait du
vélo (dans le parc)."); the model garbled bracketed words ("(dant le parc)"). Brackets
that the attention puts at one place, around nothing, are dropped.

A sentence with no letters ("🙂", "12345", "2.", "...", ":)"), or none left once its
spans are cut out ("https://example.com", "狗在跑。"), is returned as it is, without
translation.

A sentence in a frame, a list marker before it ("- ", "* ", "• ", "1. ", "2) ", "a) ")
or quotes or brackets around all of it ('"A dog runs."', "(A dog runs.)", "«A dog
runs»."), is translated without the frame, which is put back around the translation:
the model saw neither in its captions, and dropped them or garbled the sentence
('"A man is riding a bike."' -> "Un homme corpulent fait du vélo.", `translator.frames`).

Text inside a sentence that is a name or what a sign says ('a boat named "El Corazon"', 'a
sign that says "OPEN"', "a sign (OPEN)": `_name_or_sign`), in quotes or brackets, is copied
with them: the model garbled it ('"F"', '"CCC"'). Other quoted words ('a "bath"', 'he shouts
"the dog is running in the park"') are translated, their quotes put back around the
translation like brackets (the model dropped or misplaced them).

Markup is kept (`translator.markup`): tags around the sentence are its frame, other tags are
spans, and a tag pair goes around the translation of the words it held ("a <i>red</i> shirt"
-> "un T-shirt <i>rouge</i>"); entities are read as the characters they stand for. A clock
time with a.m. or p.m., or after a preposition, goes back the French way ("at 3:30pm" -> "à
15 h 30", `translator.clock`). A span and a comma that start a sentence ("At 7:30am, a man
...") keep the comma, and the translation after them starts in lowercase.

Ordinals in digits go back the French way ("21st" -> "21e", "1st" -> "1er"); emoticons (":)",
";-)", "<3") are copied.

Single digits are left to the model: in the training captions they are translated
as words ("3 boys" -> "Trois garçons"), as the references do.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
import string
import unicodedata
from collections.abc import Callable, Sequence

from translator import clock
from translator.frames import CLOSING, frame
from translator.markup import ENTITY, ESCAPED_TAG, TAG, escaped_bracket, only, unescape
from translator.negation import Negation, affirm
from translator.questions import ask, statement
from translator.tokenizer import INVISIBLE
from translator.truecase import capitalized, lower_first

URL = re.compile(r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"'`]+", re.IGNORECASE)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# brackets around words inside a sentence ("a bike (in the park)"): the model translates the words
# without them, and each bracket is a span put back where the attention says
BRACKETED = re.compile(r"\([^()]*[^\W\d_][^()]*\)|\[[^\[\]]*[^\W\d_][^\[\]]*\]")
_OPENING, _CLOSING_BRACKET = "([", ")]"
# quoted words inside a sentence; those of a name or what a sign says ('a boat named "El Corazon"', 'a
# sign that says "OPEN"': `_name_or_sign`) are copied with their
# quotes, others translated, their quotes put back around the translation like brackets
QUOTED = re.compile(r'"[^"\n]*[^\W_][^"\n]*"|“[^”\n]*[^\W_][^”\n]*”|«[^»\n]*[^\W_][^»\n]*»')
_BRACKETS = set(_OPENING + _CLOSING_BRACKET + '"“”«»')
# a hashtag or a handle ("#NewYork", "@jo_doe"), not the "@" of an address nor "#1"
HANDLE = re.compile(r"(?<![\w#@&])[#@]\w*[^\W\d_]\w*")
# A standalone number (not part of a word such as "4th" or "50s"), with an optional
# currency sign, percent, degrees or unit: "1102", "3:45", "$4,500", "555-1234", "2.5%", "30°C",
# "5 kg", "10 km/h" (units French writes the same way; a single digit with one is a span too)
UNITS = r"km/h|kg|km|cm|mm|mg|ml|cl|m|g|mph"
NUMBER = re.compile(rf"(?<![\w.,:/-])[$€£¥]?\d+(?:[.,:/-]\d+)*(?:%|°[CF]?|\s?(?:{UNITS})(?![\w/]))?(?![\w°])")
_DIGIT = re.compile(r"\d")
# an ordinal in digits ("1st", "21st", "3rd", "96th"), written the French way: "1er", "21e", "3e", "96e"
ORDINAL = re.compile(r"(?<![\w.,:/-])(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
# an emoticon between spaces (or before sentence punctuation): ":)", ";-)", ":D", ":P", "<3"
EMOTICON = re.compile(r"(?<!\S)(?:[:;=][-'^]?[()\[\]DPpO3/\\|*]+|<3)(?=\s|$|[.,!?])")
_LOWER_WORD = re.compile(r"(?:^|\s)[a-z]")
_PLAIN = set(string.ascii_letters + " ")
_TRAILING = ".,;:!?)]}'\"»”’"  # punctuation after a URL ends the sentence, not the URL
_PAIRS = {o + c for o, c in CLOSING.items()}  # a span alone inside these takes them along ('"93"')
_ENDING = re.compile(r"\s*([?!][?!.]*|\.{3,}|…)\s*$")  # "?", "!", "?!", "!!!", "...", "…" closing a sentence
_JOINERS = {"\u200d", "\ufe0e", "\ufe0f"}  # zero-width joiner, text/emoji variation selectors
_JOINING = "'’-"  # inside a word, between target pieces: no span goes there
_BOUND = frozenset({"▁se", "▁Se", "▁ne", "▁Ne"})  # French words bound to the verb after them: no span goes after
_CAPITALS = re.compile(r"\b[A-Z]{3,}\b")  # a word of 3 capitals or more (of 2, an acronym: "GI", "TV", "US")


@dataclasses.dataclass(frozen=True)
class Span:
    text: str
    at: int  # character offset in `Prepared.text` where the span was cut out
    space_before: bool  # whitespace before it in the source
    space_after: bool  # whitespace after it in the source
    # "open": it opens words that follow (a bracket, opening tags, a quote); "close": it closes them
    role: str = ""


@dataclasses.dataclass(frozen=True)
class Prepared:
    source: str  # the sentence as given
    text: str  # what the model translates
    spans: tuple[Span, ...] = ()
    upper: bool = False  # the source was in capitals: the translation is put in capitals
    ending: str = ""  # the source's closing "?", "!" or "..." (the model translated the sentence with "." instead)
    # the model translated a question's statement: ask its translation with this French question
    # word ("Où"; "Qui", "Que" for a subject or an object; "" for a yes/no question); None: not such a question
    question: str | None = None
    frame: tuple[str, str] = ("", "")  # a list marker and quotes or brackets around the sentence: put back
    # the model translated the affirmative of a negated sentence: these verbs are negated in its translation
    negations: tuple[Negation, ...] = ()
    lowered: bool = False  # the first word was lowercased (`translator.truecase`): the translation is capitalized
    # a span and a comma start the sentence, a lowercase word follows ("At 7:30am, a man ..."): the
    # translation after them starts in lowercase too
    continues: bool = False
    # words of `text` (indices in text.split()) that were in capitals in a sentence that is not
    # ("A DOG runs"): given to the model in lowercase, their translation goes back in capitals
    emphasized: tuple[int, ...] = ()

    @property
    def copy_only(self) -> bool:
        """Spans were cut out and nothing is left to translate: the source is the output."""
        return bool(self.spans) and not any(c.isalpha() for c in self.text)

    @property
    def changed(self) -> bool:
        return self.text != self.source

    @property
    def put_back(self) -> bool:
        """Something goes back into the model's translation (spans, a mark, a frame, a
        negation): the translation returned is not the one the model produced."""
        return bool(self.spans or self.ending or any(self.frame) or self.negations or self.emphasized)


def _number(m: re.Match[str]) -> bool:
    """A number worth protecting: two digits or more, or a separator, currency, percent, degrees or unit."""
    s = m.group()
    return sum(c.isdigit() for c in s) >= 2 or not s.isdigit()


def _symbol(c: str) -> bool:
    """An emoji or another pictographic symbol."""
    return unicodedata.category(c) in ("So", "Sk", "Cs") or c in _JOINERS


def address_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of the URLs and e-mail addresses in `text`; punctuation that ends
    a URL ends the sentence, not the URL ("Visit www.example.com." -> "www.example.com")."""
    ranges: list[tuple[int, int]] = []
    if "://" in text or "www." in text.lower():  # the regular expressions only where they can match
        for m in URL.finditer(text):
            end = m.end()
            while end > m.start() and text[end - 1] in _TRAILING:
                end -= 1
            ranges.append((m.start(), end))
    if "@" in text:
        ranges += [m.span() for m in EMAIL.finditer(text)]
    return ranges


def find_spans(text: str, unknown: Callable[[str], bool]) -> list[tuple[int, int]]:
    """(start, end) character ranges of `text` to copy verbatim, sorted and disjoint (`_spans`)."""
    return [(start, end) for start, end, _ in _spans(text, unknown)]


def _spans(text: str, unknown: Callable[[str], bool]) -> list[tuple[int, int, str]]:
    """(start, end, role) of the ranges of `text` to copy verbatim, sorted and disjoint; the
    role is "open" for a span that opens words after it (a bracket, opening tags, a quote
    mark), "close" for one that closes them, else "".

    `unknown(c)` says whether the tokenizer cannot represent character c. The spans
    are URLs, e-mail addresses, hashtags and handles ("#fun", "@jo"), numbers of two
    digits or more (or with a separator, currency or percent sign), runs of symbols
    (emoji), every whitespace-separated word with a letter the tokenizer cannot
    represent in either case ("Łódź", "狗在跑"), and each bracket of a pair around
    words ("a bike (in the park)": the model translates the words, the brackets go
    back around their translation), quoted text with a capital or a digit, quotes
    included ('named "El Corazon"'), clock times ("at 3:30pm"), ordinals ("21st"),
    emoticons (":)"), tags ("<b>") and the entities of "<" and ">". A span that is all
    there is between quotes or brackets takes them along ('"93"'); spans separated only by
    whitespace are merged into one, brackets and tags excepted.
    """
    ranges = address_spans(text)
    if "@" in text or "#" in text:
        ranges += [m.span() for m in HANDLE.finditer(text)]
    if "(" in text or "[" in text:
        for m in BRACKETED.finditer(text):  # a name or a sign whole ("(OPEN)"), others bracket by bracket
            whole = _name_or_sign(m.group()[1:-1])
            ranges += [m.span()] if whole else [(m.start(), m.start() + 1), (m.end() - 1, m.end())]
    copied, marks = _quotes(text)
    ranges += copied + [(i, i + 1) for i in marks]
    if _DIGIT.search(text):
        ranges += [m.span() for m in NUMBER.finditer(text) if _number(m)]
        ranges += [clock.span(m, text) for m in clock.TIME.finditer(text) if clock.is_time(m)]
        ranges += [m.span() for m in ORDINAL.finditer(text)]
    if ":" in text or ";" in text or "=" in text or "<" in text:
        ranges += [m.span() for m in EMOTICON.finditer(text)]
    if "<" in text:
        ranges += [m.span() for m in TAG.finditer(text)]
    if "&" in text:
        ranges += [m.span() for m in ESCAPED_TAG.finditer(text)]
        ranges += [m.span() for m in ENTITY.finditer(text) if escaped_bracket(m)]
    # the characters to look at: ASCII letters and spaces are never symbols, and taken as known
    odd = {c for c in set(text) - _PLAIN if _symbol(c) or (not c.isspace() and unknown(c))}
    for i, c in enumerate(text if odd else ""):
        if c not in odd:
            continue
        if c.isalpha() and unknown(c) and unknown(c.lower()):  # the whole word, less closing punctuation
            start, end = i, i + 1
            while start > 0 and not text[start - 1].isspace():
                start -= 1
            while end < len(text) and not text[end].isspace():
                end += 1
            while end > i + 1 and text[end - 1] in _TRAILING:
                end -= 1
            ranges.append((start, end))
        elif _symbol(c) or (unknown(c) and not c.isalpha()):
            ranges.append((i, i + 1))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        while start > 0 and end < len(text) and text[start - 1] + text[end] in _PAIRS:  # '"93"' whole
            start, end = start - 1, end + 1
        # a bracket stays apart from a span that a space separates from it (its spacing is its own),
        # a tag from any span it does not overlap (it may open or close what the words hold)
        bracket = text[start:end] in _BRACKETS or (merged and text[slice(*merged[-1])] in _BRACKETS)
        tag = bool(TAG.fullmatch(text, start, end) or (merged and TAG.fullmatch(text, *merged[-1])))
        if merged and (
            start < merged[-1][1]
            or (not tag and (start == merged[-1][1] or (not bracket and not text[merged[-1][1] : start].strip())))
        ):
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return [
        (start, end, marks[start] if end - start == 1 and start in marks else _role(text[start:end]))
        for start, end in merged
        if INVISIBLE.sub("", text[start:end]).strip()  # not a lone ZWJ
    ]


def _shouting(text: str) -> bool:
    """All cased letters are capitals, and there are enough of them to be a sentence."""
    return text.isupper() and sum(c.isupper() for c in text) >= 4 and len(text.split()) >= 2


def _title_case(text: str) -> bool:
    """Every word starts with a capital ("A Man Is Running In The Park"), in words enough
    to be a sentence, not a name."""
    if _LOWER_WORD.search(text):  # the common case, found fast
        return False
    words = [w for w in text.split() if w[:1].isalpha()]
    return len(words) >= 4 and all(w[0].isupper() for w in words) and any(w[1:].islower() for w in words)


def _uncapitalize(word: str) -> str:
    """ "Running" -> "running", "A," -> "a,"; "BMX", "McDonald" and "I" stay."""
    rest = word[1:].rstrip(string.punctuation)
    return word[:1].lower() + word[1:] if rest.islower() or (not rest and word[:1] == "A") else word


def prepare(
    sentence: str,
    unknown: Callable[[str], bool],
    lowercase: frozenset[str] = frozenset(),
    known: frozenset[str] = frozenset(),
    spell: Callable[[str], str | None] | None = None,
) -> Prepared:
    """What the model should translate of `sentence`, and what to put back afterwards.
    `unknown`: whether the vocabulary cannot spell a character; `lowercase`: the words a
    sentence's first word is lowercased to (`translator.truecase`); `known`: the words a word
    in capitals is lowercased to ("A DOG runs"); `spell`: the text with its misspelt words
    corrected, None if none is (`translator.spelling`)."""
    head, inside, tail = frame(sentence)
    if head or tail:
        prepared = _prepare(inside, unknown, lowercase, known, spell)
        return dataclasses.replace(prepared, source=sentence, frame=(head, tail))
    return _prepare(sentence, unknown, lowercase, known, spell)


def _prepare(
    sentence: str,
    unknown: Callable[[str], bool],
    lowercase: frozenset[str],
    known: frozenset[str],
    spell: Callable[[str], str | None] | None,
) -> Prepared:
    if not any(c.isalpha() for c in sentence):  # no letters ("...", ":)", "2.", "12345"): nothing to translate
        return Prepared(sentence, "", (Span(sentence.strip(), 0, False, False),) if sentence.strip() else ())
    ranges = _spans(sentence, unknown)
    continues = False  # a span and a comma start the sentence, then a lowercase word
    if not ranges:
        text = unescape(sentence)
        spans: tuple[Span, ...] = ()
    else:
        kept = ""  # the text to translate so far (offsets into what the tokenizer sees: no invisibles)
        found: list[Span] = []
        pos = 0
        for start, end, role in ranges:
            kept = (kept + INVISIBLE.sub("", unescape(sentence[pos:start]))).rstrip()
            if not kept and sentence[end : end + 1] == ",":  # "At 7:30am, a man ...": the comma goes along
                end += 1
                continues = sentence[end:].lstrip()[:1].islower()
            before = start > 0 and sentence[start - 1].isspace()
            after = end < len(sentence) and sentence[end].isspace()
            found.append(Span(_french(sentence[start:end]), len(kept), before, after, role))
            pos = end
            while pos < len(sentence) and sentence[pos].isspace():
                pos += 1
            # one space at the cut before a word, or where the source had spaces on both
            # sides; none before punctuation that followed the span ("is $4,500." -> "is.")
            nxt = sentence[pos : pos + 1]
            space = bool(nxt) and ((after and before) or (nxt.isalnum() and (before or after or kept[-1:].isalnum())))
            kept += " " if space and kept else ""
        text = kept + INVISIBLE.sub("", unescape(sentence[pos:]))
        spans = tuple(found)
    corrected = spell(text) if spell else None
    if corrected is not None:
        text, spans = _edited(text, corrected, spans)
    ending = _ENDING.search(text)
    if ending and any(c.isalpha() for c in text[: ending.start()]):
        text = text[: ending.start()] + "."
    else:
        ending = None
    upper = _shouting(text)
    if upper:
        low = text.lower()
        text = low[:1].upper() + low[1:]
    elif _title_case(text):
        words = text.split(" ")
        text = " ".join([words[0], *map(_uncapitalize, words[1:])])
    said = statement(text[:-1]) if ending and ending.group(1).startswith("?") else None
    if said is not None:
        text, spans = _edited(text, said[1] + ".", spans)
    negated = affirm(text)  # (a negative question's statement is negated)
    negations: tuple[Negation, ...] = ()
    if negated is not None:
        text, moved_spans = _edited(text, negated[0], spans)
        spans, negations = _marked_negations(spans, moved_spans, negated[1])
    emphasis = None if upper else unemphasized(text, known)
    text, emphasized = emphasis or (text, ())
    lowered = lower_first(text, lowercase)
    if lowered is not None:
        text = lowered
    return Prepared(
        sentence,
        text,
        spans,
        upper,
        ending.group(1) if ending else "",
        said[0] if said else None,
        negations=negations,
        lowered=lowered is not None,
        continues=continues,
        emphasized=emphasized,
    )


def unemphasized(text: str, known: frozenset[str]) -> tuple[str, tuple[int, ...]] | None:
    """`text` with its words in capitals that `known` has in lowercase ("A DOG runs": "dog")
    lowercased, and their indices in text.split(); acronyms ("BMX", "GI") are left alone.
    None if it has no such word."""
    if not known or not _CAPITALS.search(text):
        return None
    found = []
    for k, m in enumerate(re.finditer(r"\S+", text)):
        word = m.group().strip(string.punctuation)
        low = word.lower()
        if len(word) >= 3 and word.isupper() and low in known and len(low) == len(word):
            found.append(k)
            start = m.start() + m.group().index(word)
            text = text[:start] + low + text[start + len(word) :]
    return (text, tuple(found)) if found else None


# French articles: linked to an English noun with it ("DOGS" -> "des chiens"), not emphasized with it
_ARTICLES = frozenset({"le", "la", "les", "un", "une", "des", "du", "de", "au", "aux"})


def capitals(translation: str, words: set[int]) -> str:
    """`translation` with the words at these indices (in translation.split()) in capitals,
    their lengths kept ("Un chien court.", {1} -> "Un CHIEN court."); articles among them only
    if nothing else is ("Des chiens", {0, 1} -> "Des CHIENS")."""
    found = [(k, m) for k, m in enumerate(re.finditer(r"\S+", translation)) if k in words]
    content = [(k, m) for k, m in found if m.group().lower() not in _ARTICLES]
    out = translation
    for _, m in content or found:
        upper = m.group().upper()
        if len(upper) == len(m.group()):
            out = out[: m.start()] + upper + out[m.end() :]
    return out


def moved(old: str, new: str, offsets: Sequence[int]) -> list[int]:
    """Character offsets into `old` carried over to `new`, an edit of it ("is not running" ->
    "is running", "court" -> "ne court pas"): an offset in or at the edge of text the edit
    kept goes where that text went, one inside text it replaced goes to the start of the
    replacement."""
    blocks = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    out = []
    for o in offsets:
        kept = next(((i, j) for op, i, end, j, _ in blocks if op == "equal" and i <= o <= end), None)
        if kept is None:
            kept = next(((o, j) for _, i, end, j, _ in blocks if i <= o < end), (o, len(new)))
        out.append(kept[1] + o - kept[0])
    return out


def _edited(text: str, new: str, spans: tuple[Span, ...]) -> tuple[str, tuple[Span, ...]]:
    """(`new`, `spans` cut out of `text` moved to where `new`, an edit of `text`, has their places)."""
    points = moved(text, new, [span.at for span in spans])
    return new, tuple(dataclasses.replace(s, at=len(new[:at].rstrip())) for s, at in zip(spans, points, strict=True))


def _marked_negations(
    before: tuple[Span, ...], after: tuple[Span, ...], negations: tuple[Negation, ...]
) -> tuple[tuple[Span, ...], tuple[Negation, ...]]:
    """Markup around a negation ("is <i>not</i> running"): a tag pair that held words `before`
    the affirmative was made and holds none `after` it held the negation. The pair is taken out
    of the spans (the model's translation of the affirmative has no place for it) and goes
    around the French negation word instead ("ne court <i>pas</i>"); the first such pair, around
    that of the first negation."""
    for k in range(len(after) - 1):
        pair = after[k], after[k + 1]
        if (pair[0].role, pair[1].role) != ("open", "close") or pair[0].at != pair[1].at:
            continue
        if before[k].at == before[k + 1].at or not any(n.french for n in negations):
            continue
        first = next(n for n in negations if n.french)
        marked = dataclasses.replace(first, french=f"{pair[0].text}{first.french}{pair[1].text}")
        return after[:k] + after[k + 2 :], tuple(marked if n is first else n for n in negations)
    return after, negations


def insertion_points(spans: Sequence[Span], source_starts: Sequence[int], target_pieces: Sequence[str],
                     attention: Sequence[Sequence[float]]) -> list[int]:  # fmt: skip
    """For each span, the target piece index before which it goes.

    `source_starts`: the character offset in `Prepared.text` where each source piece
    starts; `attention`: (at least) T rows over (at least) S columns, T target pieces
    over S source pieces (EOS rows and columns are ignored). A span cut out at
    offset `at` lies between the source pieces that start before `at` and the rest
    (k of them before). Each target piece is assigned the source piece it attends to
    most; the span goes to the target word boundary j with the most pieces on the
    right side (before j: attending to a source piece before k; from j on: the
    others). A span with source text before it does not go first, one with source
    text after it does not go after the translation's closing punctuation. Ties go
    to the earliest boundary. A pair (an opening bracket or tags and the closing one)
    goes around the words of the target pieces, punctuation aside, that attend to the
    source pieces between them, when there are any. Spans keep their source order.
    """
    n_src, n_tgt = len(source_starts), len(target_pieces)
    argmax = [_argmax(attention[t][:n_src]) for t in range(n_tgt)]
    words = [j for j in range(n_tgt + 1) if _word_boundary(target_pieces, j)]
    closing = n_tgt  # where the translation's closing punctuation starts
    while closing > 0 and not any(c.isalnum() for c in target_pieces[closing - 1]):
        closing -= 1
    points: list[int] = []
    cuts = [sum(1 for start in source_starts if start < span.at) for span in spans]
    for k in cuts:
        # text before the span in the source: not first; text after it: before the closing punctuation
        boundaries = [j for j in words if (j > 0 or k == 0) and (j <= closing or k == n_src)] or words
        left = [0] * (n_tgt + 1)  # left[j]: pieces before j attending before k
        for t in range(n_tgt):
            left[t + 1] = left[t] + (argmax[t] < k)
        # pieces on the right side of j: left[j] before it, (n_tgt - j) - (left[n_tgt] - left[j]) from it on
        points.append(max(boundaries, key=lambda j: (2 * left[j] - j, -j)))
    # a pair (brackets, tags) goes around the target words attending to the source words it holds
    for i, m in _pairs(spans):
        held = [t for t in range(n_tgt) if cuts[i] <= argmax[t] < cuts[m] and any(map(str.isalnum, target_pieces[t]))]
        if held:
            points[i] = max(j for j in words if j <= held[0])
            points[m] = min(j for j in words if j > held[-1])
    return list(itertools.accumulate(points, max))


def _quotes(text: str) -> tuple[list[tuple[int, int]], dict[int, str]]:
    """The quoted text in `text` copied whole, a name or what a sign says ('named "El Corazon"',
    'says "OPEN 24h"': `_name_or_sign`), and
    the role ("open", "close") of each quote mark around other quoted words ('he said "I will be
    there."', 'a "bath"'), which are translated."""
    copied: list[tuple[int, int]] = []
    marks: dict[int, str] = {}
    for m in QUOTED.finditer(text) if '"' in text or "“" in text or "«" in text else ():
        if _name_or_sign(m.group()[1:-1]):
            copied.append(m.span())
        else:
            marks[m.start()], marks[m.end() - 1] = "open", "close"
    return copied, marks


def _french(span: str) -> str:
    """A span as it goes into the translation: its times and ordinals the French way."""
    span = clock.to_french(span) if _DIGIT.search(span) else span
    return ORDINAL.sub(lambda m: m.group(1) + ("er" if m.group(1) == "1" else "e"), span)


def _name_or_sign(inside: str) -> bool:
    """What quotes or brackets hold is a name or what a sign says, copied as it is: up to 4 words,
    the first starting with a capital or a digit, with a digit, a capital after the first word,
    a first word in capitals, or a single word ("El Corazon", "Route 66", "OPEN 24h",
    "Pullman"); not "A dog runs", "bath" nor "in New York"."""
    words = inside.split()
    if not 1 <= len(words) <= 4 or not (words[0][:1].isupper() or words[0][:1].isdigit()):
        return False  # not "(in New York)": a phrase, translated
    first = words[0]
    return (
        any(c.isdigit() for c in inside)
        or any(w[:1].isupper() for w in words[1:])
        or (first.isupper() and sum(c.isalpha() for c in first) >= 2)
        or (len(words) == 1 and first[:1].isupper())
    )


def _role(text: str) -> str:
    """The role of a span other than a quote mark: "open" for an opening bracket or opening
    tags, "close" for a closing bracket or closing tags, "" for others."""
    if text in _OPENING:
        return "open"
    return "close" if text in _CLOSING_BRACKET else only(text)


def _pairs(spans: Sequence[Span]) -> list[tuple[int, int]]:
    """(opening, closing) indices of the spans that pair up, innermost first."""
    pairs, stack = [], []
    for i, span in enumerate(spans):
        if span.role == "open":
            stack.append(i)
        elif span.role == "close" and stack:
            pairs.append((stack.pop(), i))
    return pairs


def _argmax(row: Sequence[float]) -> int:
    return max(range(len(row)), key=row.__getitem__) if row else 0


def _word_boundary(pieces: Sequence[str], j: int) -> bool:
    """Whether a span may go between target pieces j-1 and j: a new word, or punctuation, but
    not an apostrophe or a hyphen inside a word ("l'|atteindre", "T|-|shirt"), nor between a
    pronoun and its verb ("se|préparent")."""
    if j in (0, len(pieces)):
        return True
    nxt, prev = pieces[j], pieces[j - 1]
    if nxt.startswith("▁"):
        return prev not in _BOUND
    if nxt[:1] in _JOINING or prev[-1:] in _JOINING:
        return False
    return not any(c.isalnum() for c in nxt) or not any(c.isalnum() for c in prev)


def restore(prepared: Prepared, translation: str, offsets: Sequence[int]) -> str:
    """The final translation: `translation` (of `prepared.text`) with each span inserted
    at its character offset (nondecreasing, from `insertion_points` mapped to
    characters of `translation`), spaced as in the source, in capitals (the spans
    excepted) if the source was, and in the source's frame (`frame`)."""
    if prepared.copy_only:
        return prepared.source.strip()
    out = _restored(prepared, translation, offsets)
    head, tail = prepared.frame
    return head + out.strip() + tail if head or tail else out


def _restored(prepared: Prepared, translation: str, offsets: Sequence[int]) -> str:

    def case(s: str) -> str:
        return s.upper() if prepared.upper else s

    if prepared.lowered:
        translation = capitalized(translation)
    if prepared.continues and not translation[1:2].isupper():  # "Un homme" but not "BMX"
        translation = translation[:1].lower() + translation[1:]
    out, pos = "", 0
    placed = list(zip(prepared.spans, offsets, strict=True))
    # brackets or quotes that the attention put at one place hold nothing of the translation: both go
    # (tags stay: they are the user's markup)
    empty = {
        k
        for i in range(len(placed) - 1)
        if placed[i][0].role == "open"
        and placed[i + 1][0].role == "close"
        and placed[i][1] == placed[i + 1][1]
        and not TAG.search(placed[i][0].text)
        for k in (i, i + 1)
    }
    opened = ""  # the last span put back, if it opens what follows (a bracket, a tag)
    for k, (span, at) in enumerate(placed):
        if k in empty:
            continue
        prefix = out + case(translation[pos:at])
        rest = translation[at:].lstrip(" ")
        gap = len(rest) < len(translation) - at or prefix.endswith(" ")  # a word boundary of the translation
        prefix = prefix.rstrip(" ")
        # the source's spacing, and a space wherever the span would touch a word; none inside
        # brackets or tags, nor before a full stop or a comma
        glue_left = prefix[-1:].isalnum() and (gap or span.text[0].isalnum())
        glue_right = rest[:1].isalnum() and (gap or span.text[-1].isalnum())
        inside = span.role == "close" or prefix[-1:] in _OPENING or bool(opened and prefix.endswith(opened))
        left = " " if prefix and (span.space_before or glue_left) and not inside else ""
        spaced = rest and rest[0] not in ".," and (span.space_after or glue_right) and span.role != "open"
        out = prefix + left + span.text + (" " if spaced else "")
        pos = len(translation) - len(rest)
        opened = span.text if span.role == "open" else ""
    out += case(translation[pos:])
    if prepared.question is not None:
        out = case(ask(out, prepared.question))
    if prepared.ending:  # French sets "?" and "!" off with a space, not "..."
        out = out.rstrip()
        if prepared.ending[0] in "?!":
            stops = len(out) - len(out.rstrip("."))
            out = out[: len(out) - stops].rstrip() if stops < 3 else out  # the full stop, not an ellipsis
            out = f"{out} {prepared.ending}" if out else prepared.ending
        else:
            out = out.rstrip(".…").rstrip() + prepared.ending
    return out
