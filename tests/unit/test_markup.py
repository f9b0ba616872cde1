"""Inline markup (translator.markup) and clock times (translator.clock)."""

from __future__ import annotations

import pytest

from translator import clock
from translator.markup import blanked, kind, only, split_markup, unescape
from translator.sentences import split_sentences


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("<p>A dog runs.</p>", ("<p>", "A dog runs.", "</p>")),
        ("<i>A dog runs</i>.", ("<i>", "A dog runs", "</i>.")),  # sentence punctuation after the tags
        ("<p>A <b>dog</b> runs.</p>", ("<p>", "A <b>dog</b> runs.", "</p>")),
        ("<b>A dog</b> runs.", ("", "<b>A dog</b> runs.", "")),  # the pair closes inside: around words
        ("<li><b>A</b> dog</li>", ("<li>", "<b>A</b> dog", "</li>")),  # the head stops before "<b>"
        ('A link <a href="x">here</a>.', ("", 'A link <a href="x">here</a>.', "")),  # "." alone is no tail
        ("A dog runs.</li><li>", ("", "A dog runs.", "</li><li>")),
        ("<br>", ("", "<br>", "")),  # no letter inside
        ("a < b and c > d", ("", "a < b and c > d", "")),  # no tags
    ],
)
def test_split_markup(sentence: str, expected: tuple[str, str, str]) -> None:
    assert split_markup(sentence) == expected


def test_opening_and_closing_tags() -> None:
    assert only("<b><i>") == only('<a href="https://x.org/?a=1">') == "open"
    assert only("<br>") == only("<img src='x'/>") == only("<b>x") == only("<!-- b -->") == ""
    assert only("</i> </b>") == "close" and only("</i><b>") == only("<br><b>") == ""
    assert kind("<P class=x>") == ("open", "p") and kind("</A >") == ("close", "a") and kind("<BR>") == ("", "")


def test_entities_are_read_as_characters_except_angle_brackets() -> None:
    assert unescape("Tom &amp; Jerry&nbsp;run, &quot;fast&quot; &#39;n&#x27; caf&eacute;") == (
        "Tom & Jerry run, \"fast\" 'n' café"
    )
    assert unescape("a &lt;b&gt; c &#60; AT&T &bogus;") == "a &lt;b&gt; c &#60; AT&T &bogus;"


def test_tags_separate_sentences_and_nothing_is_lost() -> None:
    assert blanked("runs.</li><li>A") == "runs.         A"
    assert split_sentences("<ul><li>A dog runs.</li><li>A cat sleeps.</li></ul>") == [
        "<ul><li>A dog runs.</li><li>",
        "A cat sleeps.</li></ul>",
    ]
    assert split_sentences("<p>A dog runs. A cat sleeps.</p>") == ["<p>A dog runs.", "A cat sleeps.</p>"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("at 3:30pm", "à 15 h 30"),
        ("At 7:30 a.m. today", "À 7 h 30 today"),
        ("from 9am to 5pm", "de 9 h à 17 h"),
        ("12am and 12:05 PM", "0 h and 12 h 05"),
        ("until 5:00 p.m.", "jusqu'à 17 h"),
        ("at 14:45", "à 14 h 45"),  # 24-hour, after a preposition
        *[(t, t) for t in ("3:30 alone", "at 5 dogs", "at 25:30", "13pm", "1.5pm", "5 amazing")],  # not times
    ],
)
def test_times_in_french(text: str, expected: str) -> None:
    assert clock.to_french(text) == expected
