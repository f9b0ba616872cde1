"""Tokenized alignment data back to natural text, and links back to the given tokens."""

from __future__ import annotations

import pytest

from translator.detokenize import detokenize, to_token_links, to_word_links
from translator.errors import TranslatorError


def test_french_contractions_and_elisions() -> None:
    d = detokenize("je poursuis la lecture de les recommandations de le homme qui ne a rien dit", "fr")
    assert d.text == "Je poursuis la lecture des recommandations de l' homme qui n' a rien dit"
    assert d.groups[4] == [4, 5]  # "des" stands for "de les"
    assert d.groups[7] == [8] and d.words[7] == "l'"  # elided words stay one word per token
    assert sum(len(g) for g in d.groups) == len(d.tokens)
    assert (
        detokenize("à le parlement et à les enfants si il faut", "fr").text == "Au parlement et aux enfants s' il faut"
    )


def test_english_case_and_untouched_tokens() -> None:
    d = detokenize("i think that is the case .", "en")
    assert d.words == ["I", "think", "that", "is", "the", "case", "."]
    assert all(g == [k] for k, g in enumerate(d.groups))


def test_links_go_back_to_every_token() -> None:
    src = detokenize("the recommendations", "en")
    tgt = detokenize("de les recommandations", "fr")  # "des recommandations"
    links = to_token_links([(0, 0, 0.9), (1, 1, 0.8)], src, tgt)
    assert links == [(0, 0, 0.9), (0, 1, 0.9), (1, 2, 0.8)]
    # and back: token links -> natural-word links, each pair once
    assert to_word_links([(0, 0), (0, 1), (1, 2)], src, tgt) == [(0, 0), (1, 1)]
    with pytest.raises(TranslatorError, match="link token 5 is out of range"):
        to_word_links([(0, 5)], src, tgt)


def test_unknown_language() -> None:
    with pytest.raises(TranslatorError, match="language must be one of"):
        detokenize("x", "de")
