"""Clock times, written the French way.

English writes "3:30pm", "5 p.m.", "10:15 AM"; French uses the 24-hour clock, "15 h 30",
"17 h", "10 h 15". The model never learnt either (it made "at 3:30pm" into "sur trois3", and
dropped the "at" of "at 5 p.m." with the time cut out), so a time is a span
(`translator.verbatim`) that goes into the translation already converted, with the
preposition before it: "at 3:30pm" -> "à 15 h 30", "from 9am to 5pm" -> "de 9 h à 17 h",
"at 14:45" -> "à 14 h 45". A time without a.m. or p.m. is one only after such a preposition
("at 3:30"); "3:30" alone is a number, copied as it is.
"""

from __future__ import annotations

import re

PREPOSITIONS = {
    "at": "à",
    "around": "vers",
    "about": "vers",
    "until": "jusqu'à",
    "till": "jusqu'à",
    "by": "avant",
    "before": "avant",
    "after": "après",
    "from": "de",
    "to": "à",
}
# [preposition] hour [:minutes] [am|pm]: "at 3:30pm", "5 p.m.", "10:15 AM", "at 14:45"; not "5 amazing" nor "1.5pm"
TIME = re.compile(
    rf"(?<![\w.,:/-])(?:(?i:({'|'.join(PREPOSITIONS)}))\s+)?(\d{{1,2}})(?::([0-5]\d))?"
    r"(?:\s?([AaPp][Mm]\b|[AaPp]\.[Mm]\.?))?(?![\w:]|[.,]\d)"
)


def span(m: re.Match[str], text: str) -> tuple[int, int]:
    """(start, end) of the time `m` found in `text`; the closing "." of "p.m." is the
    sentence's full stop too when nothing but closing marks follows it ("at 5 p.m.")."""
    end = m.end()
    if text[end - 1] == "." and not text[end:].strip(" \"'»”’)]"):
        end -= 1
    return m.start(), end


def french(m: re.Match[str]) -> str:
    """The French form of the time `m` (a `TIME` match), or `m` as it was if it is not a
    time (no a.m. or p.m. and no preposition and minutes, or an hour out of range)."""
    preposition, hour, minutes, half = m.group(1), int(m.group(2)), m.group(3), m.group(4)
    if half:
        if not 1 <= hour <= 12:
            return m.group()
        hour = hour % 12 + (12 if half[0] in "Pp" else 0)
    elif not (preposition and minutes and hour <= 23):
        return m.group()
    time = f"{hour} h {minutes}" if minutes and minutes != "00" else f"{hour} h"
    if not preposition:
        return time
    word = PREPOSITIONS[preposition.lower()]
    return f"{word[0].upper() + word[1:] if preposition[0].isupper() else word} {time}"


def is_time(m: re.Match[str]) -> bool:
    """The `TIME` match `m` is a time (`french` converts it)."""
    return french(m) != m.group()


def to_french(text: str) -> str:
    """`text` with its times in French form: "at 3:30pm" -> "à 15 h 30"."""
    return TIME.sub(french, text)
