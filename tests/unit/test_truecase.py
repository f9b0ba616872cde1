"""Truecasing a sentence's first word: the word list from a corpus, lowercasing, restoring."""

from __future__ import annotations

from pathlib import Path

import pytest

from translator import truecase
from translator.errors import TranslatorError
from translator.verbatim import prepare, restore

CORPUS = [
    "A dog runs.",
    *["Two horses run in a field."] * 5,  # "Two" opens 5 sentences: known capitalized
    "A man rides horses near Boston.",
    "A boy watches the horses and the fireworks.",
    "People in Boston watch fireworks.",
    "A woman sees two birds.",
    "Birds fly.",  # "Birds" opens one sentence: still lowercased
]


def test_the_word_list_keeps_openers_and_names_capitalized() -> None:
    words = truecase.lowercase_words(CORPUS)
    assert {"horses", "fireworks", "birds", "runs"} <= set(words)
    assert "two" not in words  # a frequent opener: the model knows "Two"
    assert "boston" not in words  # never lowercase: a name
    assert words == sorted(words)


def test_the_file_round_trips(tmp_path: Path) -> None:
    words = truecase.lowercase_words(CORPUS)
    (tmp_path / truecase.FILE).write_bytes(truecase.file_bytes(words))
    assert truecase.load(tmp_path) == frozenset(words)
    assert truecase.load(tmp_path / "none") == frozenset()
    (tmp_path / truecase.FILE).write_bytes(b"\xff\xfe horses")
    with pytest.raises(TranslatorError, match=r"truecase\.txt: cannot read the truecasing words"):
        truecase.load(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Horses graze in a pasture.", "horses graze in a pasture."),
        ("Fireworks, in the sky", "fireworks, in the sky"),
        ("Children's toys.", "children's toys."),
        ("Two horses run.", None),  # not on the list
        ("Boston at night.", None),
        ("horses graze.", None),  # already lowercase
        ("HORSES graze.", None),  # capitals: not the plain capitalized form
        ("McHorses graze.", None),
        ("12 horses graze.", None),  # does not start with a word
    ],
)
def test_lower_first(text: str, expected: str | None) -> None:
    words = frozenset({"horses", "fireworks", "children's", "mchorses"})
    assert truecase.lower_first(text, words) == expected


def test_prepare_lowercases_last_and_restore_capitalizes_the_translation() -> None:
    words = frozenset({"horses", "is"})
    p = prepare("Horses graze in a pasture.", lambda c: False, words)
    assert (p.text, p.lowered) == ("horses graze in a pasture.", True)
    assert restore(p, "des chevaux paissent dans un pâturage.", []) == "Des chevaux paissent dans un pâturage."
    # in capitals: sentence case, lowercased, and the translation in capitals again
    q = prepare("HORSES GRAZE!", lambda c: False, words)
    assert (q.text, q.lowered, q.upper) == ("horses graze.", True, True)
    assert restore(q, "des chevaux paissent.", []) == "DES CHEVAUX PAISSENT !"
    # a question's "Is" is read as a question first ("Is the dog running?" -> its statement)
    r = prepare("Is the dog running?", lambda c: False, words)
    assert (r.text, r.lowered) == ("The dog is running.", False)
    # without a word list (a bundle without the file) nothing changes
    assert not prepare("Horses graze.", lambda c: False).lowered
