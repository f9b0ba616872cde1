"""Frames: a list marker before a sentence, quotes or brackets around all of it, or the tags
of the element that holds it ("<p>...</p>", `translator.markup`).

The default model learnt captions, which have neither. It drops them or garbles the
sentence ('"A man is riding a bike."' -> "Un homme corpulent fait du vélo."), and a long
sentence cut into clauses (`translator.clauses`) would leave an opening quote on its first
clause and the closing one on its last. `frame` takes the frame off, so that what it holds
is translated (and cut into clauses) as a sentence of its own; the frame goes back around
the translation as it was (`translator.verbatim.restore`, `translator.clauses.join_clauses`).
"""

from __future__ import annotations

import re

from translator.markup import split_markup

# a list item's marker: a bullet or dash, "1." / "1)" / "(1)", "a)" / "(a)", then whitespace
_MARKER = re.compile(r"\s*(?:[-*•‣◦–—]|\(?\d{1,3}[.)]|\(?[a-z]\))\s+")
CLOSING = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "„": "“", "(": ")", "[": "]", "{": "}"}


def frame(sentence: str) -> tuple[str, str, str]:
    """(head, inside, tail): '- "A dog runs."' -> ('- "', "A dog runs.", '"'); '(A dog runs).' ->
    ("(", "A dog runs", ")."). The head is a list marker, an opening quote or bracket, or both;
    the tail the matching closing mark and any sentence punctuation after it; tags around the
    sentence are the outermost ("<p>- A dog runs.</p>": `translator.markup.split_markup`).
    ("", sentence, "") when there is no frame, or no letter inside it."""
    tag_head, sentence, tag_tail = split_markup(sentence)
    if tag_head or tag_tail:
        head, inside, tail = frame(sentence)
        return tag_head + head, inside, tail + tag_tail
    marker = _MARKER.match(sentence)
    head = marker.group() if marker else ""
    rest = sentence[len(head) :]
    quoted = _quoted(rest)
    if quoted:
        return head + quoted[0], quoted[1], quoted[2]
    if head and any(c.isalpha() for c in rest):
        return head, rest, ""
    return "", sentence, ""


def _quoted(text: str) -> tuple[str, str, str] | None:
    """(opening, inside, closing) of a text that quotes or brackets hold whole, when nothing
    inside is the same mark ('"A" and "B"' and "'The dog's ball.'" are not held whole)."""
    stripped = text.strip()
    closing = CLOSING.get(stripped[:1])
    end = len(stripped.rstrip(".!?…"))  # the closing mark ends here, sentence punctuation may follow
    if not closing or end < 2 or stripped[end - 1] != closing:
        return None
    inside = stripped[1 : end - 1]
    if stripped[0] in inside or closing in inside or not any(c.isalpha() for c in inside):
        return None
    start = text.index(stripped[0]) + 1
    before, after = len(inside) - len(inside.lstrip()), len(inside) - len(inside.rstrip())  # "« A dog runs »"
    return (
        text[: start + before],
        inside.strip(),
        inside[len(inside) - after :] + stripped[end - 1 :] + text[len(text.rstrip()) :],
    )
