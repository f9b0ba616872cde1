"""The speller: misspelt words corrected to corpus words, everything else left alone."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from translator import spelling
from translator.errors import TranslatorError
from translator.verbatim import prepare

COUNTS = {
    **{"walking": 50, "building": 20, "bull": 5, "rider": 9, "t-shirt": 30, "shirt": 80, "cliff": 7, "clip": 2},
    **{"gray": 300, "color": 20, "colorful": 100, "colourful": 2, "center": 30, "centre": 1, "theater": 3},
    **{"theatre": 1, "four": 90, "for": 900, "tags": 40, "childern": 1, "children": 700, "childen": 3},
}


@pytest.mark.parametrize(
    ("word", "fixed"),
    [
        ("wlaking", "walking"),  # two letters swapped
        ("buiding", "building"),  # a letter left out
        ("builldng", None),  # two edits away: left alone
        ("walkinng", "walking"),  # a letter too many
        ("bullrider", "bull rider"),  # two words run together
        ("clif", "cliff"),  # one edit from "cliff" and from "clip": the corpus's more frequent
        ("tshirt", "t-shirt"),  # a hyphen left out wins over the more frequent "shirt" (80 against 30)
        ("walking", None),  # a corpus word
        ("grazing", None),  # an English word the corpus never had
        ("tabs", None),  # another: not "tags"
        ("wlk", None),  # too short to guess
        ("qqqqqq", None),  # nothing one edit away
        # British spellings, for the American the corpus has more than 5 times as often (and twice or more)
        ("grey", "gray"),
        ("colour", "color"),
        ("colourful", "colorful"),
        ("centre", "center"),
        ("theatre", None),  # "theater" 3, "theatre" 1
        ("four", None),  # not "for": a word, not a British spelling
        # the corpus's own typos: once or twice, and a corpus word one edit away over 5 times as often
        ("childern", "children"),
        ("childen", None),  # 3 times: a word of the corpus
    ],
)
def test_a_word_is_corrected_to_the_most_frequent_corpus_word_one_edit_away(word: str, fixed: str | None) -> None:
    assert spelling.Speller(COUNTS).word(word) == fixed


def test_only_lowercase_words_on_their_own_are_corrected() -> None:
    speller = spelling.Speller(COUNTS)
    assert speller("A man is wlaking past a buiding.") == "A man is walking past a building."
    # names, words in capitals, parts of hyphenated words and contractions stay
    assert speller("A Wlaking man with BUIDING and blue-buiding, buiding's.") is None
    assert speller("A man is walking.") is None


def test_the_first_word_is_corrected_in_lowercase_and_capitalized_again() -> None:
    speller = spelling.Speller(COUNTS)
    assert speller("Childern are wlaking.") == "Children are walking."
    assert speller("Maria is wlaking.") == "Maria is walking."  # a name the word list has
    assert speller("Buiding-site.") is None  # part of a hyphenated word


def test_counts_round_trip_and_a_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    assert spelling.load(tmp_path) is None  # a bundle without the file: no speller
    counts = spelling.word_counts(["A man in a T-shirt is walking.", "The man is walking."])
    assert counts["walking"] == 2 and counts["t-shirt"] == 1 and counts["the"] == 1 and counts["man"] == 2
    (tmp_path / spelling.FILE).write_bytes(spelling.file_bytes(counts))
    speller = spelling.load(tmp_path)
    assert speller is not None and speller.counts == dict(counts)
    (tmp_path / spelling.FILE).write_bytes(b"walking two\n")
    with pytest.raises(TranslatorError, match="cannot read the word counts"):
        spelling.load(tmp_path)
    (tmp_path / spelling.FILE).write_bytes(b"\xff\xfe")
    with pytest.raises(TranslatorError, match=spelling.FILE):
        spelling.load(tmp_path)


def test_prepare_corrects_the_text_and_moves_the_spans() -> None:
    p = prepare("A man is wlaking home at 3:30pm.", lambda c: False, spell=spelling.Speller(COUNTS))
    assert p.text == "A man is walking home."
    assert [(s.text, s.at) for s in p.spans] == [("à 15 h 30", len("A man is walking home"))]
    assert prepare("A man is wlaking home.", lambda c: False).text == "A man is wlaking home."  # no speller


def test_corrections_are_remembered_and_the_speller_still_pickles() -> None:
    speller = spelling.Speller(COUNTS)
    first = speller.word("wlaking")
    assert speller.word("wlaking") == first == "walking"
    assert speller._word.cache_info().hits == 1  # the second call did not search again
    clone = pickle.loads(pickle.dumps(speller))
    assert clone.counts == speller.counts and clone.word("wlaking") == "walking"
