"""Inline markup in the text to translate: HTML or XML tags and character entities.

Text from web pages and documents comes with markup ("<b>A dog</b> runs.", 'a link to
<a href="...">the park</a>', "Tom &amp; Jerry"). The default model never saw any: it garbles
the tags and the words around them ("<Un > chien < goûte > court"). Translation services
that take HTML keep the markup and translate the words; so does this product:

- tags that open or close the whole sentence ("<p>A dog runs.</p>", "<li>...") are its frame
  (`translator.frames`): the sentence is translated without them and they go back around it;
- every other tag is a span copied through (`translator.verbatim`); a tag pair that holds
  words ("a <i>red</i> shirt") goes back around the words their translation became ("un
  T-shirt <i>rouge</i>"), as the attention says, without spaces inside;
- an entity is translated as the character it stands for ("Tom &amp; Jerry" as "Tom & Jerry",
  which the model writes "Tom et Jerry"; "&nbsp;" as a space), except those of "<" and ">",
  which are copied (with what they hold, for a tag shown as text: "&lt;b&gt;"): read as
  characters, they would make tags.

Attribute values (a link's title, an image's alt text) are copied, not translated. Tags that
separate sentences ("...runs.</li><li>A cat...") separate them for the sentence splitter too.
"""

from __future__ import annotations

import html
import re

# a tag ("<b>", "</a>", "<br/>", '<a href="x">', "<ns:tag>") or a comment; not "a < b" nor "<3"
TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>", re.DOTALL)
# a named or numeric character reference: "&amp;", "&nbsp;", "&#39;", "&#x2019;"
ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z\d]*|#\d+|#[xX][\dA-Fa-f]+);")
# a tag written with entities, shown as text ("&lt;b&gt;"): copied whole
ESCAPED_TAG = re.compile(r"&lt;/?[A-Za-z][\w:.-]*(?:\s[^<>]*?)?/?&gt;")
# elements that never hold text, whose tags open nothing
VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
NBSP = "\xa0"
_NAME = re.compile(r"<(/?)([A-Za-z][\w:.-]*)")  # a tag's "/" (closing) and element name
_RUN = rf"(?:\s*(?:{TAG.pattern}))+\s*"  # tags and the whitespace between them
_LEADING = re.compile(rf"^{_RUN}", re.DOTALL)
_TRAILING = re.compile(rf"{_RUN}[.!?…]*\s*$", re.DOTALL)  # and sentence punctuation after them


def kind(tag: str) -> tuple[str, str]:
    """("open" or "close", the element name, lowercase) of a `TAG` match: "<b>" -> ("open",
    "b"), "</a>" -> ("close", "a"); ("", "") for one that opens nothing: a self-closing or
    void tag ("<br/>", "<img src=x>") or a comment."""
    m = _NAME.match(tag)
    if not m or tag.endswith("/>") or (not m.group(1) and m.group(2).lower() in VOID):
        return "", ""
    return ("close" if m.group(1) else "open"), m.group(2).lower()


def tags(text: str) -> list[str]:
    """The tags in `text`, in order."""
    return TAG.findall(text) if "<" in text else []


def only(text: str) -> str:
    """ "open" if `text` is opening tags only, whitespace between them ("<b><i>"), "close" if
    closing tags only ("</i></b>"), else ""."""
    kinds = {kind(t)[0] for t in tags(text)}
    return kinds.pop() if len(kinds) == 1 and not TAG.sub("", text).strip() else ""


def split_markup(sentence: str) -> tuple[str, str, str]:
    """(head, inside, tail): the tags that start `sentence`, what they hold, and the tags
    that end it with any sentence punctuation after them ("<p>A dog runs.</p>" -> ("<p>",
    "A dog runs.", "</p>"); "<i>A dog runs</i>." -> ("<i>", "A dog runs", "</i>.")). Tags
    closed or opened inside are not part of it ("<b>A dog</b> runs." has no head: the pair
    goes around the words). ("", sentence, "") without such tags, or with no letter inside."""
    if "<" not in sentence:
        return "", sentence, ""
    lead = _LEADING.match(sentence)
    start = lead.end() if lead else 0
    trail = _TRAILING.search(sentence, start)
    end = trail.start() if trail else len(sentence)
    inside = [kind(t) for t in tags(sentence[start:end])]
    closed, opened = ({name for k, name in inside if k == which} for which in ("close", "open"))
    # the head ends before its first tag closed inside, the tail starts after its last opened inside
    for m in TAG.finditer(sentence, 0, start):
        if kind(m.group()) in {("open", name) for name in closed}:
            start = m.start()
            break
    for m in TAG.finditer(sentence, end):
        if kind(m.group()) in {("close", name) for name in opened}:
            end = m.end()
    end = end if tags(sentence[end:]) else len(sentence)  # sentence punctuation alone is no tail
    if not any(c.isalpha() for c in TAG.sub("", sentence[start:end])):
        return "", sentence, ""
    return sentence[:start], sentence[start:end], sentence[end:]


def escaped_bracket(m: re.Match[str]) -> bool:
    """The entity `m` (an `ENTITY` match) stands for "<" or ">"."""
    return html.unescape(m.group()) in ("<", ">")


def unescape(text: str) -> str:
    """`text` with its entities made the characters they stand for, a no-break space a space;
    those of "<" and ">" excepted (`escaped_bracket`)."""
    if "&" not in text:
        return text
    return ENTITY.sub(lambda m: m.group() if escaped_bracket(m) else html.unescape(m.group()).replace(NBSP, " "), text)


def blanked(text: str) -> str:
    """`text` with its tags replaced by spaces (same length): where a tag separates sentences
    ("runs.</li><li>A cat"), the sentence splitter sees whitespace."""
    return TAG.sub(lambda m: " " * len(m.group()), text) if "<" in text else text
