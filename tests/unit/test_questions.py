"""Questions: the statement the model translates, and the French question made of its translation."""

from __future__ import annotations

import pytest

from translator.questions import TAG, ask, statement


@pytest.mark.parametrize(
    ("question", "said"),
    [
        ("Is the dog running", ("", "The dog is running")),
        ("Are two women sitting on a bench", ("", "Two women are sitting on a bench")),
        ("Are the children in the park", ("", "The children are in the park")),  # a preposition starts the rest
        ("Was a little boy playing with a red ball", ("", "A little boy was playing with a red ball")),
        ("Is he wearing a hat", ("", "He is wearing a hat")),  # a pronoun may be the whole subject
        ("Are there two dogs in the yard", ("", "There are two dogs in the yard")),
        ("is the dog running", ("", "The dog is running")),
        ("Where is the man going", ("Où", "The man is going")),
        ("why are two dogs running on the beach", ("Pourquoi", "Two dogs are running on the beach")),
        ("Is the building tall", None),  # "the" alone is no subject; nothing marks the predicate
        ("Is Mary running", None),  # a name: not recognised as a subject
        ("Does the dog like snow", ("", "The dog likes snow")),  # "do": the verb conjugated (lemminflect)
        ("Do the children play soccer", ("", "The children play soccer")),
        ("Did the little girl fall", ("", "The little girl fell")),  # "little" is no noun's end: "girl" is
        ("Does the big dog like snow", ("", "The big dog likes snow")),  # "dog" can be a verb, "big" no noun
        ("Does the man in the red shirt ride a bike", ("", "The man in the red shirt rides a bike")),
        ("Does he like snow", ("", "He likes snow")),
        ("Where did the man go", ("Où", "The man went")),
        ("What does the dog hold", ("Que", "The dog holds something")),
        ("What does the dog play with", ("Que", "The dog plays with something")),
        ("Doesn't the dog like snow", ("", "The dog does not like snow")),  # negated in turn (translator.negation)
        ("Did the dog not bark", ("", "The dog did not bark")),
        ("Do you like snow", None),  # "you" and "I": not captions' subjects
        ("Who does the man see", None),
        ("Does the blue sky", None),  # no verb after a noun
        ("Who is riding a bike", ("Qui", "Someone is riding a bike")),
        ("Who are sitting on the bench", ("Qui", "Someone is sitting on the bench")),  # "someone" is singular
        ("Who was standing in the rain", ("Qui", "Someone was standing in the rain")),
        ("What is the man doing", ("Que", "The man is doing something")),
        ("What is he looking at", ("Que", "He is looking at something")),  # a preposition at the end
        ("What are the children playing in the park", ("Que", "The children are playing something in the park")),
        ("Who is he", None),  # nothing marks a predicate
        ("What is the man", None),
        ("What is in the box", None),  # the subject is asked for, and it is no "-ing" question
        ("What color is the car", ("De quelle couleur est", "The car")),
        ("What colour are the dogs in the yard", ("De quelle couleur sont", "The dogs in the yard")),
        ("Where are the children", ("Où sont", "The children")),
        ("Who is the man in the red shirt", ("Qui est", "The man in the red shirt")),
        ("How many dogs are there", ("Combien", "Dogs")),
        ("How many red balloons are there", ("Combien", "Red balloons")),
        ("How many people are in the park", None),
        ("Isn't the dog running", ("", "The dog is not running")),  # negated in turn (translator.negation)
        ("Is the dog not running", ("", "The dog is not running")),
        ("Why aren't the children playing", ("Pourquoi", "The children are not playing")),
        ("Who isn't wearing a hat", ("Qui", "Someone is not wearing a hat")),
        ("What is the man not holding", ("Que", "The man is not holding something")),
        ("Where isn't the dog", None),  # a noun phrase has no verb to negate
        ("How many the dogs are there", None),
        ("Where is he", None),  # a pronoun alone: "Où est-il" is not "Où est" + its translation
        ("Where is the big old brown and white dog", None),  # too long to be one noun phrase
        ("What are there", None),
        ("Where is the dog", ("Où est", "The dog")),
        ("Where is the man in the park", ("Où est", "The man in the park")),  # a place for a noun phrase
        ("Where is the man wearing a hat", ("Où est", "The man wearing a hat")),
        ("Is it", None),
        ("Where", None),
        ("", None),
        ("The dog is running", None),
    ],
)
def test_statement(question: str, said: tuple[str, str] | None) -> None:
    assert statement(question) == said


@pytest.mark.parametrize(
    ("translation", "asked"),
    [
        ("Le chien court.", "Est-ce que le chien court"),
        ("Un homme fait du vélo.", "Est-ce qu'un homme fait du vélo"),  # "que" elided before a vowel
        ("Il y a deux chiens dans la cour.", "Est-ce qu'il y a deux chiens dans la cour"),
        ("L'homme court.", "Est-ce que l'homme court"),
        ("Marie court.", "Est-ce que Marie court"),  # a name keeps its capital
        ("LE CHIEN COURT.", "Est-ce que LE CHIEN COURT"),  # the caller puts the rest in capitals
        ("", ""),
    ],
)
def test_ask(translation: str, asked: str) -> None:
    assert ask(translation) == asked


def test_ask_with_a_question_word() -> None:
    assert ask("Le chien va.", "Où") == "Où est-ce que le chien va"
    assert ask("Un homme court.", "Pourquoi") == "Pourquoi est-ce qu'un homme court"


@pytest.mark.parametrize(
    ("translation", "word", "asked"),
    [
        ("Quelqu'un fait du vélo.", "Qui", "Qui fait du vélo"),
        ("Quelqu’une court.", "Qui", "Qui court"),  # a typographic apostrophe
        ("QUELQU'UN COURT.", "Qui", "Qui COURT"),  # the caller puts it all in capitals
        ("Une personne fait du vélo.", "Qui", "Est-ce qu'une personne fait du vélo"),  # no "quelqu'un": yes/no
        ("L'homme fait quelque chose.", "Que", "Qu'est-ce que l'homme fait"),
        ("Il regarde quelque chose.", "Que", "Qu'est-ce qu'il regarde"),
        ("Les enfants jouent quelque chose dans le parc.", "Que", "Qu'est-ce que les enfants jouent dans le parc"),
        ("Le chien joue avec quelque chose.", "Que", "Avec quoi est-ce que le chien joue"),
        ("Il pense à quelque chose.", "Que", "À quoi est-ce qu'il pense"),
        ("Un homme court.", "Que", "Est-ce qu'un homme court"),  # no "quelque chose": yes/no
        ("Le chien.", "Où est", "Où est le chien"),
        ("Les enfants.", "Où sont", "Où sont les enfants"),
        ("L'homme en chemise rouge.", "Qui est", "Qui est l'homme en chemise rouge"),
        ("La voiture.", "De quelle couleur est", "De quelle couleur est la voiture"),
        ("Des chiens.", "Combien", "Combien de chiens y a-t-il"),
        ("Des enfants.", "Combien", "Combien d'enfants y a-t-il"),  # "de" elided before a vowel
        ("Un homme.", "Combien", "Combien d'homme y a-t-il"),  # ("How many man are there?")
    ],
)
def test_ask_for_a_part(translation: str, word: str, asked: str) -> None:
    assert ask(translation, word) == asked


@pytest.mark.parametrize(
    ("question", "said"),
    [
        ("The dog is running, isn't it", "The dog is running"),
        ("The men aren't working, are they", "The men aren't working"),  # negated by translator.negation
        ("You like snow, don't you", "You like snow"),
        ("He can swim, can't he", "He can swim"),
        ("It will rain, won't it", "It will rain"),
    ],
)
def test_a_question_tag_leaves_the_statement(question: str, said: str) -> None:
    assert statement(question) == (TAG, said)
    assert ask("Le chien court.", TAG) == "Le chien court, n'est-ce pas"


def test_not_a_question_tag() -> None:
    assert statement("Is it running") == ("", "It is running")
    assert statement("Running, it is") is None  # no auxiliary and pronoun after the comma
