"""Negation: the affirmative the model translates, and the French negation put around the aligned verb."""

from __future__ import annotations

import pytest

from translator.negation import Negation, affirm, negate, past_negation
from translator.verbatim import moved, prepare, restore


@pytest.mark.parametrize(
    ("sentence", "affirmative", "negations"),
    [
        ("A man is not wearing a hat.", "A man is wearing a hat.", [((2, 3), "pas")]),
        ("A man isn't wearing a hat.", "A man is wearing a hat.", [((2, 3), "pas")]),
        ("Two women aren’t sitting.", "Two women are sitting.", [((2, 3), "pas")]),  # a typographic apostrophe
        ("The dog does not like cats.", "The dog likes cats.", [((2,), "pas")]),
        ("The dog doesn't watch TV.", "The dog watches TV.", [((2,), "pas")]),
        ("The children don't have shoes.", "The children have shoes.", [((2,), "pas")]),
        ("The woman didn't go home.", "The woman went home.", [((2,), "pas")]),
        ("Don't run.", "Run.", [((0,), "pas")]),  # an imperative: the verb takes the capital
        ("The dog cannot swim.", "The dog can swim.", [((2, 3), "pas")]),
        ("He's not happy.", "He's happy.", [((0, 1), "pas")]),
        ("The boy never smiles.", "The boy smiles.", [((2,), "jamais")]),
        ("The kids have never seen snow.", "The kids have seen snow.", [((2, 3), "jamais")]),
        ("The dog is never late.", "The dog is late.", [((2, 3), "jamais")]),
        ("There is no water in the glass.", "There is water in the glass.", [((0, 1), "pas")]),
        ("There aren't any dogs.", "There are dogs.", [((0, 1, 2), "pas")]),
        ("The man has no shirt.", "The man has shirt.", [((2,), "pas")]),
        ("A man not wearing a shirt is dancing.", "A man who is wearing a shirt is dancing.", [((3, 4), "pas")]),
        ("Two people, not facing us, stand.", "Two people, who are facing us, stand.", [((3, 4), "pas")]),
        (
            "A man who is not wearing a shirt isn't running.",
            "A man who is wearing a shirt is running.",
            [((3, 4), "pas"), ((7, 8), "pas")],
        ),
    ],
)
def test_a_negated_sentence_has_an_affirmative_and_the_words_of_its_verbs(
    sentence: str, affirmative: str, negations: list[tuple[tuple[int, ...], str]]
) -> None:
    assert affirm(sentence) == (affirmative, tuple(Negation(w, f) for w, f in negations))


@pytest.mark.parametrize(
    ("sentence", "affirmative", "negation"),
    [
        ("No one is sitting on the bench.", "Someone is sitting on the bench.", Negation((1, 2), subject="Personne")),
        ("Nobody swims.", "Someone swims.", Negation((1,), subject="Personne")),
        ("Nothing is on the table.", "Something is on the table.", Negation((1, 2), subject="Rien")),
        ("no one can climb it.", "someone can climb it.", Negation((1, 2), subject="Personne")),
    ],
)
def test_a_negative_subject_is_someone_or_something_and_keeps_its_french_word(
    sentence: str, affirmative: str, negation: Negation
) -> None:
    assert affirm(sentence) == (affirmative, (negation,))


@pytest.mark.parametrize(
    ("translation", "aligned", "negated"),
    [
        ("Quelqu'un est assis sur le banc.", {1, 2}, "Personne n'est assis sur le banc."),
        ("Quelqu'un nage.", {1}, "Personne ne nage."),  # "ne" alone: the full stop stays on the verb
        ("Quelqu'un porte un chapeau.", {1}, "Personne ne porte de chapeau."),
        ("Quelque chose est sur la table.", {2}, "Rien n'est sur la table."),
        # the translation has no "quelqu'un": its verb negated with "ne ... pas" instead
        ("Un homme est assis.", {2}, "Un homme n'est pas assis."),
    ],
)
def test_a_negative_subject_replaces_quelqu_un_with_ne_alone(translation: str, aligned: set[int], negated: str) -> None:
    subject = "Rien" if "chose" in translation else "Personne"
    assert negate(translation, [Negation((1, 2), subject=subject)], [aligned]) == negated


@pytest.mark.parametrize(
    "sentence",
    [
        "A dog runs.",
        "Not now.",
        "People in casual, not clothing, stand.",  # an "-ing" noun
        "Nothing to see.",
        "Nothing but sand.",  # no verb after the negative subject
        "Nobody.",
        "A man with no shirt is running.",
        "It may or may not rain.",
        "",
    ],
)
def test_a_sentence_without_a_negated_verb_is_left_alone(sentence: str) -> None:
    assert affirm(sentence) is None


@pytest.mark.parametrize(
    ("translation", "negation", "aligned", "negated"),
    [
        ("Un homme porte un chapeau.", Negation((2, 3)), {2}, "Un homme ne porte pas de chapeau."),
        ("Le chien court.", Negation((2, 3)), {2}, "Le chien ne court pas."),  # the full stop after "pas"
        ("Une femme est assise sur un banc.", Negation((2, 3)), {3}, "Une femme n'est pas assise sur un banc."),
        ("Une femme se tient debout.", Negation((2, 3)), {2}, "Une femme ne se tient pas debout."),
        ("Un enfant s'apprête à lire.", Negation((2, 3)), {2}, "Un enfant ne s'apprête pas à lire."),
        ("Il y a de l'eau.", Negation((0, 1)), {0, 1, 2}, "Il n'y a pas d'eau."),
        ("Il y a des chiens.", Negation((0, 1)), {1, 2}, "Il n'y a pas de chiens."),
        ("Un homme fait du vélo.", Negation((2, 3)), {0, 2}, "Un homme ne fait pas de vélo."),  # "Un": no verb
        ("Il joue du piano.", Negation((1,)), {1}, "Il ne joue pas du piano."),  # "jouer de": no article
        ("Un homme est un médecin.", Negation((2,)), {2}, "Un homme n'est pas un médecin."),  # "être": it stays
        ("Le chat noir est.", Negation((2, 3)), {2, 3}, "Le chat noir n'est pas."),  # "être" before the rest
        ("C'est une intersection.", Negation((0, 1)), {0}, "Ce n'est pas une intersection."),
        ("Le garçon sourit.", Negation((2,), "jamais"), {2}, "Le garçon ne sourit jamais."),
        ("Cours.", Negation((0,)), {0}, "Ne cours pas."),
        ("Un homme porte un chapeau.", Negation((2, 3)), {3}, "Un homme porte un chapeau."),  # a noun: left out
        ("Le chien de natation.", Negation((2, 3)), {3}, "Le chien de natation."),  # after "de": no verb
        ("Un homme court.", Negation((2, 3)), set(), "Un homme court."),
    ],
)
def test_the_aligned_verb_is_negated_the_french_way(
    translation: str, negation: Negation, aligned: set[int], negated: str
) -> None:
    assert negate(translation, [negation], [aligned]) == negated


def test_two_negations_of_one_verb_negate_it_once_and_two_verbs_both() -> None:
    text = "Un homme qui porte un chapeau court."
    assert negate(text, [Negation((3, 4)), Negation((7, 8))], [{3}, {6}]) == (
        "Un homme qui ne porte pas de chapeau ne court pas."
    )
    once = "Un homme qui ne porte pas de chapeau court."
    assert negate(text, [Negation((3, 4)), Negation((7, 8))], [{3}, {3}]) == once


def test_prepare_gives_the_model_the_affirmative_and_keeps_the_negations() -> None:
    p = prepare("A MAN IS NOT RUNNING!", lambda c: False)
    assert (p.text, p.upper, p.ending, p.negations) == ("A man is running.", True, "!", (Negation((2, 3)),))
    assert p.put_back
    q = prepare('"The dog is not running."', lambda c: False)
    assert (q.text, q.frame, q.negations) == ("The dog is running.", ('"', '"'), (Negation((2, 3)),))
    # a negative question: its statement's affirmative, negated, then asked (translator.questions)
    r = prepare("Isn't the dog running?", lambda c: False)
    assert (r.text, r.question, r.negations) == ("The dog is running.", "", (Negation((2, 3)),))
    assert restore(r, "Le chien ne court pas.", []) == "Est-ce que le chien ne court pas ?"
    # a negative subject, its affirmative's "Someone" truecased: "quelqu'un" is found in any case
    n = prepare("No one is running.", lambda c: False, frozenset({"someone"}))
    assert (n.text, n.lowered, n.negations) == ("someone is running.", True, (Negation((1, 2), subject="Personne"),))
    assert restore(n, negate("quelqu'un court.", n.negations, [{1}]), []) == "Personne ne court."
    # copied spans move with the words around them ("12" before "men" in "The men are wearing hats.")
    m = prepare("The 12 men are not wearing hats.", lambda c: False)
    assert (m.text, m.negations, [(s.text, s.at) for s in m.spans]) == (
        "The men are wearing hats.",
        (Negation((2, 3)),),
        [("12", 3)],
    )
    # and from the model's translation to its negation
    translation = "Les hommes portent des chapeaux."
    negated = negate(translation, m.negations, [{2}])
    assert negated == "Les hommes ne portent pas de chapeaux."
    assert restore(m, negated, moved(translation, negated, [3])) == "Les 12 hommes ne portent pas de chapeaux."


def test_moved_carries_offsets_through_an_edit() -> None:
    old, new = "Un homme court dans le parc.", "Un homme ne court pas dans le parc."
    assert moved(old, new, [0, 8, 14, 27]) == [0, 8, 17, 34]  # after "court": before " pas"
    # where a span goes in a negation: after the verb means after "pas" (or "jamais")
    assert [past_negation(new, at) for at in (0, 8, 17, 34)] == [0, 8, 21, 34]
    assert past_negation("Il ne regarde <i>jamais</i> la mer.", 13) == len("Il ne regarde <i>jamais</i>")
    assert past_negation("Il ne regarde pascal.", 13) == 13
    # an offset inside removed text goes where the removal was
    assert moved("A man is not running.", "A man is running.", [12, 20]) == [9, 16]


def test_markup_around_a_negation_goes_around_the_french_negation_word() -> None:
    p = prepare("A man in a <b>red</b> shirt is <i>not</i> running.", lambda c: False)
    assert p.text == "A man in a red shirt is running."
    assert [(s.text, s.role) for s in p.spans] == [("<b>", "open"), ("</b>", "close")]
    assert [n.french for n in p.negations] == ["<i>pas</i>"]
    negated = negate("Un homme en T-shirt rouge court.", p.negations, [{5}])
    assert negated == "Un homme en T-shirt rouge ne court <i>pas</i>."
    # an empty pair given as such stays a pair of spans
    assert [s.text for s in prepare("A man is <i></i> running.", lambda c: False).spans] == ["<i>", "</i>"]
