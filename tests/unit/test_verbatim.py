"""Spans copied verbatim: finding them, cutting them out, placing and restoring them."""

from __future__ import annotations

import pytest

from translator.frames import frame
from translator.verbatim import Span, capitals, find_spans, insertion_points, prepare, restore

KNOWN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"()-$%/éèàçêô#@…_&<>")


def unknown(c: str) -> bool:
    return c not in KNOWN


def spans(text: str) -> list[str]:
    return [text[a:b] for a, b in find_spans(text, unknown)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Visit https://example.com/a?b=1, then www.x.org.", ["https://example.com/a?b=1", "www.x.org"]),
        ("Mail jo.doe+x@mail.example.com now.", ["jo.doe+x@mail.example.com"]),
        ("The number 1102, 3:45 for $4,500 or 2.5% off.", ["1102", "3:45", "$4,500", "2.5%"]),
        ("3 boys and 1 girl in their 50s.", []),  # single digits and words with digits: the model's
        ("On the 4th floor, the 21st year, a dog :) runs ;-) fast :D.", ["4th", "21st", ":)", ";-)", ":D"]),
        ("A dog 🙂 runs 👨\u200d👩\u200d👧 fast.", ["🙂", "👨\u200d👩\u200d👧"]),
        ("They walk in Łódź, Poland.", ["Łódź"]),  # the whole word of an unknown letter, not its comma
        ('With the number "93" on it.', ['"93"']),  # alone between quotes: the quotes go along
        ("Scores 12 14 today.", ["12 14"]),  # only whitespace between: merged
        ("@jo_doe A dog at #NewYork2024, #1.", ["@jo_doe", "#NewYork2024"]),  # "#1": no letter
        ("Mail jo@x.com or C# code.", ["jo@x.com"]),  # no handle inside an address; "C#" is no hashtag
        ("A bike (in the park) [left].", ["(", ")", "[", "]"]),  # brackets around words: each a span
        ("A bike (1102) and () or (x.", ["(1102)"]),  # no letter inside, or no pair: as before
        ("狗在跑。", ["狗在跑。"]),
        ("A man in a red shirt.", []),
        ('A boat named "El Corazon" and a sign that says “OPEN 24h”.', ['"El Corazon"', "“OPEN 24h”"]),
        # a name or a sign copied; other quoted words translated, their quotes each a span
        ('A girl gives a toy a "bath" and «Bonjour».', ['"', '"', "«Bonjour»"]),
        (
            'He said "I will be there at 10am." to «Jo and the tall man» and "Big Jim".',
            ['"', "at 10am", '"', "«", "»", '"Big Jim"'],
        ),
        # tags, each its own span even next to another; a URL inside one is part of it
        (
            'A <i>red</i><b>x</b> <a href="https://x.org">it</a>.',
            ["<i>", "</i>", "<b>", "</b>", '<a href="https://x.org">', "</a>"],
        ),
        ("He writes &lt;b&gt; and a &lt; b &amp; c.", ["&lt;b&gt;", "&lt;"]),  # "&amp;" is read as "&"
        ("Open at 9am, until 5:30 p.m.", ["at 9am", "until 5:30 p.m"]),  # the last "." ends the sentence
        ("3:30 he ran 3 km at 5 dogs.", ["3:30", "3 km"]),  # no a.m. or p.m.: a time only after a preposition
        ("It is 30°C, 5 kg, 10 km/h, 2.5 m; 5 mangoes, 4 kids.", ["30°C", "5 kg", "10 km/h", "2.5 m"]),  # units
    ],
)
def test_find_spans(text: str, expected: list[str]) -> None:
    assert spans(text) == expected


def test_invisible_characters_leave_the_text_the_tokenizer_sees() -> None:
    p = prepare("A\u200b dog 1102 runs\u00ad fast.", unknown)
    assert p.text == "A dog runs fast."
    assert p.text[p.spans[0].at :] == " runs fast."


def test_spans_separated_by_a_word_stay_apart() -> None:
    assert spans("From 10 to 12 people.") == ["10", "12"]


@pytest.mark.parametrize(
    ("text", "reduced", "before", "after"),
    [
        ("The price is $4,500.", "The price is.", True, False),  # no space left before the period
        ("A dog with a 🙂 sign.", "A dog with a sign.", True, True),
        ("dog🙂runs", "dog runs", False, False),  # the cut does not glue two words
        ('with the number "93".', "with the number.", True, False),
        ("1102 runners.", "runners.", False, True),
    ],
)
def test_prepare_cuts_spans_out(text: str, reduced: str, before: bool, after: bool) -> None:
    p = prepare(text, unknown)
    assert p.text == reduced
    [span] = p.spans
    assert (span.space_before, span.space_after) == (before, after)
    assert p.text[: span.at].rstrip() == p.text[: span.at]  # cut at the end of the text before it
    assert not p.upper and not p.copy_only


@pytest.mark.parametrize(
    "text",
    ["🙂", "12345", "https://example.com", "狗在跑。", "$4,500!", "  🙂 🎉  ", "...", " ?! ", ":)", "2.", "3", "(4)"],
)
def test_nothing_left_to_translate_is_copied(text: str) -> None:
    p = prepare(text, unknown)
    assert p.copy_only
    assert restore(p, "ignored", []) == text.strip()


@pytest.mark.parametrize(
    ("text", "upper", "model_sees"),
    [
        ("A MAN IS RUNNING.", True, "A man is running."),
        ("TWO DOGS PLAY IN ŁÓDŹ.", True, "Two dogs play in."),  # the span keeps its capitals
        ("A BMX rider jumps.", False, "A BMX rider jumps."),
        ("NYC", False, "NYC"),  # too short to be shouting
        ("A Man Is Riding A BMX In Paris.", False, "A man is riding a BMX in paris."),  # Title Case
        ("John Smith Runs.", False, "John Smith Runs."),  # too short for Title Case: a name, maybe
    ],
)
def test_capitals(text: str, upper: bool, model_sees: str) -> None:
    p = prepare(text, unknown)
    assert p.upper is upper
    assert p.text == model_sees


def test_restore_capitals_but_not_the_spans() -> None:
    p = prepare("TWO DOGS PLAY IN ŁÓDŹ.", unknown)
    assert restore(p, "Deux chiens jouent à.", [len("Deux chiens jouent à")]) == "DEUX CHIENS JOUENT À ŁÓDŹ."


@pytest.mark.parametrize(
    ("text", "model_sees", "ending"),
    [
        ("Is the dog running?", "The dog is running.", "?"),  # a yes/no question: its statement
        ("Do you like the dog?", "Do you like the dog.", "?"),  # other questions as they are
        ("Does the dog run?", "The dog runs.", "?"),  # "does": the verb conjugated
        ("Where is the dog going?", "The dog is going.", "?"),
        ("Who is running?", "Someone is running.", "?"),
        ("What is the dog holding?", "The dog is holding something.", "?"),
        ("A dog runs !", "A dog runs.", "!"),
        ("A dog runs...", "A dog runs.", "..."),  # trailing off
        ("A dog runs…", "A dog runs.", "…"),
        ("Really?!  ", "Really.", "?!"),
        ("IS IT RAINING?", "It is raining.", "?"),  # with capitals
        ("Visit www.x.org?", "Visit.", "?"),  # the URL is cut out, the mark stays outside it
        ("A dog runs.", "A dog runs.", ""),
        ("What? A dog runs.", "What? A dog runs.", ""),  # only at the end (one sentence per call)
        ("12345?", "", ""),  # nothing to translate: copied
    ],
)
def test_questions_and_exclamations_are_translated_with_a_full_stop(text: str, model_sees: str, ending: str) -> None:
    p = prepare(text, unknown)
    assert (p.text, p.ending) == (model_sees, ending)
    asked = {"The dog is running.": "", "It is raining.": "", "The dog is going.": "Où", "The dog runs.": ""}
    asked |= {"Someone is running.": "Qui", "The dog is holding something.": "Que"}
    assert p.question == asked.get(model_sees)
    assert p.changed is (text != model_sees)
    assert p.copy_only is (text == "12345?")


@pytest.mark.parametrize(
    ("text", "translation", "expected"),
    [
        ("Is the dog running?", "Le chien court.", "Est-ce que le chien court ?"),
        ("Is the dog running?", "Le chien court", "Est-ce que le chien court ?"),  # no full stop: the mark is added
        ("Do you like the dog?", "Aimez-vous le chien.", "Aimez-vous le chien ?"),
        ("Where is the dog going?", "Le chien va.", "Où est-ce que le chien va ?"),
        ("Who is running?", "Quelqu'un court.", "Qui court ?"),
        ("WHO IS RUNNING?", "Quelqu'un court.", "QUI COURT ?"),
        ("What is the dog holding?", "Le chien tient quelque chose.", "Qu'est-ce que le chien tient ?"),
        ("Wait...!", "Attendez...", "Attendez... !"),  # an ellipsis is not the full stop
        ("A dog runs...", "Un chien court.", "Un chien court..."),  # no space before an ellipsis
        ("A dog runs…", "Un chien court...", "Un chien court…"),
        ("Wait!", "Attendez..", "Attendez !"),
        ("IS IT RAINING?", "Il pleut.", "EST-CE QU'IL PLEUT ?"),
        ("Really?!", "", "?!"),
    ],
)
def test_restore_puts_the_mark_back_french_spaced(text: str, translation: str, expected: str) -> None:
    p = prepare(text, unknown)
    assert restore(p, translation, []) == expected


def test_restore_the_mark_after_a_span_at_the_end() -> None:
    p = prepare("It is at www.x.org?", unknown)
    assert restore(p, "C'est à.", [len("C'est à")]) == "C'est à www.x.org ?"


def test_a_question_with_a_span_is_asked_as_its_statement() -> None:
    p = prepare("Is the man at 3:30pm running?", unknown)
    assert (p.text, p.question, [(s.text, s.at) for s in p.spans]) == ("The man is running.", "", [("à 15 h 30", 7)])
    assert restore(p, "L'homme court.", [len("L'homme")]) == "Est-ce que l'homme à 15 h 30 court ?"


def _identity(n_tgt: int, n_src: int, pairs: dict[int, int]) -> list[list[float]]:
    rows = [[0.0] * (n_src + 1) for _ in range(n_tgt + 1)]
    for t, s in pairs.items():
        rows[t][s] = 1.0
    return rows


def test_insertion_follows_the_attention() -> None:
    # source "with the number on it ." (span cut before "on"), target "avec le numéro sur lui ."
    starts = [0, 4, 8, 15, 18, 21]
    target = ["▁avec", "▁le", "▁numéro", "▁sur", "▁lui", "."]
    span = Span("1102", 15, True, True)
    attention = _identity(6, 6, {t: t for t in range(6)})
    assert insertion_points([span], starts, target, attention) == [3]
    # a target word split into pieces is never cut: the best split (num|éro) is inside a
    # word, the boundaries on either side tie, and ties go to the earliest
    target = ["▁avec", "▁le", "▁num", "éro", "▁sur", "."]
    attention = _identity(6, 6, {0: 0, 1: 1, 2: 2, 3: 3, 4: 3, 5: 5})
    assert insertion_points([span], starts, target, attention) == [2]


def test_no_span_goes_inside_a_word_at_an_apostrophe_or_a_hyphen() -> None:
    # source "reach in July ." with the span cut before "in"; target "l ' atteindre en juillet ."
    starts = [0, 6, 9, 14]
    target = ["▁l", "'", "atteindre", "▁en", "▁T", "-", "shirt", "."]
    attention = _identity(8, 4, {0: 2, 1: 2, 2: 0, 3: 1, 4: 1, 5: 1, 6: 1, 7: 3})
    # the best split would be after "l" (the pieces before it attend to source piece 2); words only
    assert insertion_points([Span("30°C", 6, True, True)], starts, target, attention) == [3]


def test_no_span_goes_between_a_pronoun_and_its_verb() -> None:
    # source "children prepare to go ." with the span cut before "to"; target "enfants se préparent à aller ."
    starts = [0, 9, 17, 20, 23]
    target = ["▁enfants", "▁se", "▁préparent", "▁à", "▁aller", "."]
    # "se" attends to "prepare", "préparent" to "to": the best split, after "se", is not allowed
    attention = _identity(6, 5, {0: 0, 1: 1, 2: 2, 3: 2, 4: 3, 5: 4})
    assert insertion_points([Span("at 3pm", 17, True, True)], starts, target, attention) == [1]


def test_insertion_keeps_source_order_and_closing_punctuation() -> None:
    starts = [0, 2, 4]  # "a b ."
    target = ["▁x", "▁y", "."]
    # every target piece attends to the first source piece: the split would put the spans
    # at the very end, after the period; one with source text after it stays before it
    attention = _identity(3, 3, {0: 0, 1: 0, 2: 0})
    first, middle, last = Span("10", 1, True, True), Span("20", 4, True, False), Span("30", 5, True, False)
    assert insertion_points([first, middle, last], starts, target, attention) == [2, 2, 3]
    # spans never cross: the second goes no earlier than the first
    attention = _identity(3, 3, {0: 2, 1: 2, 2: 2})
    assert insertion_points([first, Span("40", 2, True, True)], starts, target, attention) == [1, 1]


@pytest.mark.parametrize(
    ("source", "translation", "cut", "expected"),
    [
        ("The price is $4,500.", "Le prix est.", "Le prix est", "Le prix est $4,500."),
        ("A dog with a 🙂 sign.", "Un chien avec une pancarte.", "Un chien avec une", "Un chien avec une 🙂 pancarte."),
        ("Visit https://x.org today.", "Visitez aujourd'hui.", "Visitez", "Visitez https://x.org aujourd'hui."),
        ("dog🙂runs", "chien court", "chien", "chien 🙂 court"),
        ('number "93".', "le numéro.", "le numéro", 'le numéro "93".'),
        ("Łódź Poland.", "Pologne.", "", "Łódź Pologne."),  # a span never touches a word
        ("Łódź, Poland.", "Pologne.", "", "Łódź, Pologne."),  # a comma after a first span goes along
    ],
)
def test_restore_spacing(source: str, translation: str, cut: str, expected: str) -> None:
    p = prepare(source, unknown)
    assert restore(p, translation, [len(cut)] * len(p.spans)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "A sign (OPEN) and (Route 66) by (John Smith) (in New York).",
            ["(OPEN)", "(Route 66)", "(John Smith)", "(", ")"],
        ),
        (
            'A sign "Welcome Bikers." and "Pullman" and "V" then "a bath" and "A dog runs".',
            ['"Welcome Bikers."', '"Pullman"', '"V"', '"', '"', '"', '"'],
        ),
        ('He said "I love you" and "Stop raping my wife!"', ['"', '"', '"', '"']),  # a sentence: translated
    ],
)
def test_names_and_signs_in_quotes_or_brackets_are_copied_whole(text: str, expected: list[str]) -> None:
    assert spans(text) == expected


def test_ordinals_go_back_in_french() -> None:
    p = prepare("The 1st and 21st floors.", unknown)
    assert [s.text for s in p.spans] == ["1er", "21e"]


def test_times_go_back_in_french() -> None:
    p = prepare("A man arrives at 5 p.m.", unknown)
    assert p.text == "A man arrives." and [s.text for s in p.spans] == ["à 17 h"]
    assert restore(p, "Un homme arrive.", [len("Un homme arrive")]) == "Un homme arrive à 17 h."


def test_a_span_and_a_comma_starting_the_sentence() -> None:
    p = prepare("At 7:30am, a man jogs.", unknown)
    assert p.text == "a man jogs." and [s.text for s in p.spans] == ["À 7 h 30,"] and p.continues
    assert restore(p, "Un homme court.", [0]) == "À 7 h 30, un homme court."
    p = prepare("At 7:30am, John jogs.", unknown)  # a name: left as the model wrote it
    assert not p.continues and restore(p, "John court.", [0]) == "À 7 h 30, John court."


def test_entities_are_translated_as_characters() -> None:
    p = prepare("A dog &amp; a cat&nbsp;play.", unknown)
    assert (p.text, p.spans) == ("A dog & a cat play.", ())


def test_tags_go_around_their_words_without_spaces_inside() -> None:
    p = prepare("A man in a <i>red</i> shirt<br>walks.", unknown)
    assert p.text == "A man in a red shirt walks."
    translation = "Un homme en T-shirt rouge marche."
    cuts = [len("Un homme en T-shirt "), len("Un homme en T-shirt rouge"), len("Un homme en T-shirt rouge")]
    assert restore(p, translation, cuts) == "Un homme en T-shirt <i>rouge</i><br> marche."
    # a pair at one place is kept (its markup is the user's), unlike brackets
    p = prepare("A <b>boy</b> runs.", unknown)
    assert restore(p, "Un garçon court.", [len("Un garçon")] * 2) == "Un garçon <b></b> court."


def test_a_tag_pair_goes_around_the_target_words_its_source_words_became() -> None:
    # source "a red shirt ." with "<i>" cut before "red" (piece 1) and "</i>" after it (piece 2);
    # target "un T-shirt rouge ." where "rouge" (3) attends to "red" and "T-shirt" (1, 2) to "shirt"
    starts = [0, 2, 6, 12]
    target = ["▁un", "▁T", "-shirt", "▁rouge", "▁."]
    attention = _identity(5, 4, {0: 0, 1: 2, 2: 2, 3: 1, 4: 3})
    spans = [Span("<i>", 2, True, False, "open"), Span("</i>", 5, False, True, "close")]
    assert insertion_points(spans, starts, target, attention) == [3, 4]
    # a single split would put both before "T-shirt", around nothing
    alone = [insertion_points([span], starts, target, attention) for span in spans]
    assert alone == [[1], [1]]


def test_no_space_between_a_span_and_a_full_stop() -> None:
    p = prepare("A sign at 3:30 pm.", unknown)
    assert restore(p, "Un panneau.", [len("Un panneau")]) == "Un panneau à 15 h 30."
    p = prepare("A sign says 1102 .", unknown)
    assert restore(p, "Un panneau indique.", [len("Un panneau indique")]) == "Un panneau indique 1102."


def test_restore_two_spans_at_one_place_keeps_their_order() -> None:
    p = prepare("Between 10 and 20.", unknown)
    assert [s.text for s in p.spans] == ["10", "20"]
    assert restore(p, "Entre.", [len("Entre")] * 2) == "Entre 10 20."


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ('"A dog runs."', ('"', "A dog runs.", '"')),
        ("'A dog runs.'", ("'", "A dog runs.", "'")),
        ("(A dog runs.)", ("(", "A dog runs.", ")")),
        ("«A dog runs.»", ("«", "A dog runs.", "»")),
        ("« A dog runs ».", ("« ", "A dog runs", " ».")),  # the spacing inside stays with the marks
        ('"A dog runs".', ('"', "A dog runs", '".')),  # punctuation after the closing mark
        ("- A dog runs.", ("- ", "A dog runs.", "")),
        ("• A dog runs.", ("• ", "A dog runs.", "")),
        ("1. A dog runs.", ("1. ", "A dog runs.", "")),
        ("12) A dog runs.", ("12) ", "A dog runs.", "")),
        ("(b) A dog runs.", ("(b) ", "A dog runs.", "")),
        ('- "A dog runs."', ('- "', "A dog runs.", '"')),
        ('"A" and "B" run.', ("", '"A" and "B" run.', "")),  # not one quote around it all
        ("'The dog's ball.'", ("", "'The dog's ball.'", "")),  # an apostrophe inside
        ("A man (left) runs.", ("", "A man (left) runs.", "")),
        ("(Left) a man runs.", ("", "(Left) a man runs.", "")),
        ('"12345"', ("", '"12345"', "")),  # no letter inside
        ("- ", ("", "- ", "")),
        ("-5 degrees.", ("", "-5 degrees.", "")),  # a minus sign, not a marker
        ("1.5 million people.", ("", "1.5 million people.", "")),
        ("A dog runs.", ("", "A dog runs.", "")),
    ],
)
def test_frame(sentence: str, expected: tuple[str, str, str]) -> None:
    assert frame(sentence) == expected


@pytest.mark.parametrize(
    ("sentence", "model_sees", "translation", "expected"),
    [
        ('"A dog runs."', "A dog runs.", "Un chien court.", '"Un chien court."'),
        ("2) A DOG RUNS.", "A dog runs.", "Un chien court.", "2) UN CHIEN COURT."),  # capitals inside the frame
        ('- "Is the dog running?"', "The dog is running.", "Le chien court.", '- "Est-ce que le chien court ?"'),
        ("« Is the dog running ? »", "The dog is running.", "Le chien court.", "« Est-ce que le chien court ? »"),
    ],
)
def test_the_frame_goes_back_around_the_translation(
    sentence: str, model_sees: str, translation: str, expected: str
) -> None:
    p = prepare(sentence, unknown)
    assert p.text == model_sees and p.changed and p.source == sentence
    assert restore(p, translation, []) == expected


def test_a_span_inside_a_frame() -> None:
    p = prepare("(Visit www.x.org today.)", unknown)
    assert (p.text, p.frame) == ("Visit today.", ("(", ")"))
    assert restore(p, "Visitez aujourd'hui.", [len("Visitez")]) == "(Visitez www.x.org aujourd'hui.)"


def test_brackets_go_where_their_words_went_without_spaces_inside() -> None:
    p = prepare("A man is riding a bike (in the park).", unknown)
    assert p.text == "A man is riding a bike in the park."
    translation = "Un homme fait du vélo dans le parc."
    offsets = [len("Un homme fait du vélo "), len("Un homme fait du vélo dans le parc")]
    assert restore(p, translation, offsets) == "Un homme fait du vélo (dans le parc)."


def test_brackets_that_hold_nothing_of_the_translation_are_dropped() -> None:
    p = prepare("A boy (left) runs.", unknown)
    assert restore(p, "Un garçon court.", [len("Un garçon"), len("Un garçon")]) == "Un garçon court."


def test_a_word_in_capitals_is_translated_in_lowercase_and_put_back_in_capitals() -> None:
    known = frozenset({"dog", "red", "gi"})
    p = prepare("A DOG in a RED hat runs.", unknown, known=known)
    assert (p.text, p.emphasized, p.put_back) == ("A dog in a red hat runs.", (1, 4), True)
    assert capitals("Un chien avec un chapeau rouge court.", {1, 5}) == "Un CHIEN avec un chapeau ROUGE court."
    # articles linked to the word with its noun stay as they are, unless they are all there is
    assert capitals("Des chiens courent.", {0, 1}) == "Des CHIENS courent."
    assert capitals("Les chiens courent.", {0}) == "LES chiens courent."
    # acronyms (2 letters, or words not known in lowercase) and sentences in capitals are left alone
    assert not prepare("A GI with a BMX runs.", unknown, known=known).emphasized
    shouted = prepare("A DOG RUNS.", unknown, known=known)
    assert shouted.upper and not shouted.emphasized
