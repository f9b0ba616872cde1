"""Long sentences cut into clauses, and the clause translations joined in French."""

from __future__ import annotations

from translator.clauses import LONG_WORDS, Clause, join_clauses, split_clauses

LONG = (
    "A man in a blue shirt is standing on a ladder cleaning windows, while a woman in a red dress "
    "walks her dog, and two children play with a ball near the fountain."
)


def test_a_short_sentence_is_one_clause() -> None:
    short = "A man is cleaning windows, and a woman walks her dog."
    assert len(short.split()) <= LONG_WORDS
    assert split_clauses(short) == [Clause(short)]


def test_a_long_sentence_is_cut_after_its_clauses_and_each_clause_capitalised() -> None:
    assert len(LONG.split()) > LONG_WORDS
    assert split_clauses(LONG) == [
        Clause("A man in a blue shirt is standing on a ladder cleaning windows"),
        Clause("A woman in a red dress walks her dog", "while", lowered=True),
        Clause("Two children play with a ball near the fountain.", "and", lowered=True),
    ]
    semi = "A man in a blue shirt is standing on a tall ladder; John Smith in a red dress walks her old dog."
    assert split_clauses(semi) == [
        Clause("A man in a blue shirt is standing on a tall ladder"),
        Clause("John Smith in a red dress walks her old dog.", ";", lowered=False),
    ]


def test_no_cut_leaves_a_clause_of_fewer_than_four_words() -> None:
    lists = "A man with a hat, and a dog, and a cat, and a bird, and a horse stands on the green hill today."
    assert len(lists.split()) > LONG_WORDS
    clauses = split_clauses(lists)
    assert [c.text for c in clauses] == [
        "A man with a hat",
        "A dog, and a cat",  # "a dog" alone is too short a clause: the cut waits for "a cat"
        "A bird, and a horse stands on the green hill today.",
    ]
    # a comma without a connector is not a boundary
    commas = "A man in a blue shirt, a red hat and black shoes is standing on a ladder near the old church at noon."
    assert split_clauses(commas) == [Clause(commas)]


def test_join_uses_the_french_connectors_and_lowers_what_was_capitalised() -> None:
    clauses = split_clauses(LONG)
    out = join_clauses(
        clauses, ["Un homme nettoie les fenêtres.", "Une femme promène son chien.", "Deux enfants jouent."]
    )
    assert out == "Un homme nettoie les fenêtres, tandis qu'une femme promène son chien, et deux enfants jouent."
    # a clause that began with a capital keeps it; ";" is French-spaced; BMX-like words stay in capitals
    semi = [Clause("A man sits"), Clause("John runs.", ";"), Clause("BMX riders jump.", "but", lowered=True)]
    assert join_clauses(semi, ["Un homme est assis.", "John court.", "BMX sautent."]) == (
        "Un homme est assis ; John court, mais BMX sautent."
    )
    upper = [Clause("A MAN SITS"), Clause("A DOG RUNS.", "and")]
    assert join_clauses(upper, ["UN HOMME EST ASSIS.", "UN CHIEN COURT."]) == ("UN HOMME EST ASSIS, ET UN CHIEN COURT.")


def test_a_cut_needs_a_subject_after_the_connector() -> None:
    for sentence in (  # a verb, a participle, the rest of a list: one clause
        "Three women are sitting on a blanket on the ground with a baby, and are talking and having a good time.",
        "A male metal worker using a welding tool in his right hand, while holding the mask in his left hand, "
        "in a mid-lower class neighborhood.",
        "A man with a beard, striped shirt, and blue jeans plays with his tan bulldog outside in a park in the fall.",
    ):
        assert len(sentence.split()) > LONG_WORDS
        assert split_clauses(sentence) == [Clause(sentence)]
    cut = "A large bull targets a man inches away in a rodeo with his horns, while a rodeo clown runs to help."
    assert [c.joiner for c in split_clauses(cut)] == ["", "while"]


def test_the_clauses_of_a_sentence_in_a_frame_are_those_of_what_it_holds() -> None:
    clauses = split_clauses(f'1. "{LONG}"')
    assert [c.text for c in clauses] == [c.text for c in split_clauses(LONG)]  # no quote left on a clause
    assert [c.frame for c in clauses] == [('1. "', '"'), ("", ""), ("", "")]
    out = join_clauses(
        clauses, ["Un homme nettoie les fenêtres.", "Une femme promène son chien.", "Deux enfants jouent."]
    )
    assert out == '1. "Un homme nettoie les fenêtres, tandis qu\'une femme promène son chien, et deux enfants jouent."'
    # a long sentence without a clause boundary keeps its frame for `translator.verbatim`
    quoted = '"A man in a blue shirt, a red hat and black shoes is standing on a ladder near the old church at noon."'
    assert split_clauses(quoted) == [Clause(quoted)]
