"""Sentence splitting of input texts (translator.sentences)."""

from __future__ import annotations

from translator.sentences import split_sentences


def test_splits_at_sentence_ends_and_keeps_punctuation() -> None:
    assert split_sentences('He said "Stop." Then he ran! Did he?  Yes') == [
        'He said "Stop."',
        "Then he ran!",
        "Did he?",
        "Yes",
    ]
    assert split_sentences("A man.  \n  A woman.") == ["A man.", "A woman."]
    assert split_sentences("Wait... what?! No.") == ["Wait... what?!", "No."]


def test_abbreviations_initials_and_numbers_do_not_end_a_sentence() -> None:
    for text in (
        "A group of U.S. Navy jets fly in formation.",
        "A young boy wearing Mr. Potato Head teeth and glasses.",
        "Several men are walking and standing in John A. Noble facility.",
        "There are 3.5 dogs.",
    ):
        assert split_sentences(text) == [text]


def test_blank_and_single_sentences() -> None:
    assert split_sentences("  \t ") == []
    assert split_sentences(" A dog runs on the beach. ") == ["A dog runs on the beach."]
    assert split_sentences("no punctuation at all") == ["no punctuation at all"]


def test_urls_and_email_addresses_are_not_cut_at_their_dots() -> None:
    assert split_sentences("A man runs. Visit www.example.com now! Mail jo.doe@mail.example.org. Bye.") == [
        "A man runs.",
        "Visit www.example.com now!",
        "Mail jo.doe@mail.example.org.",
        "Bye.",
    ]
    # a URL's last period ends its sentence
    assert split_sentences("Visit www.example.com. A man runs.") == ["Visit www.example.com.", "A man runs."]


def test_a_trailing_symbol_stays_with_its_sentence_and_keeps_its_space() -> None:
    assert split_sentences("A dog runs. It jumps! 🙂") == ["A dog runs.", "It jumps! 🙂"]
