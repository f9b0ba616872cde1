"""The public API on a tiny model: texts of several sentences are translated sentence by sentence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from helpers import reverse_task

from translator import spelling
from translator.clauses import join_clauses, split_clauses
from translator.inference import Translator
from translator.search import repeated_run

pytestmark = pytest.mark.integration


def test_a_text_of_several_sentences_joins_its_sentences(tiny_bundle: Path) -> None:
    src, _ = reverse_task(3, seed=7)
    sentences = [s + "." for s in src]
    translator = Translator(tiny_bundle, engine="torch")
    alone = translator.translate(sentences, beam_size=3, n_best=2, return_attention=True)
    [joined] = translator.translate([" ".join(sentences)], beam_size=3, n_best=2, return_attention=True)

    assert joined.source == " ".join(sentences)
    assert joined.source_tokens == [p for r in alone for p in r.source_tokens]
    for k, hyp in enumerate(joined.hypotheses):
        parts = [r.hypotheses[k] for r in alone]
        assert hyp.text == " ".join(h.text for h in parts)
        assert hyp.target_tokens == [p for h in parts for p in h.target_tokens]
        assert hyp.log_prob == pytest.approx(sum(h.log_prob for h in parts), abs=1e-4)
        # block-diagonal attention: each sentence's pieces attend to their own source pieces,
        # and every row (EOS row included) still sums to 1
        a = hyp.attention
        assert a is not None
        assert a.shape[-2:] == (len(hyp.target_tokens) + 1, len(joined.source_tokens) + 1)
        torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:-1]))
        t0 = s0 = 0
        for r, h in zip(alone, parts, strict=True):
            t, s = len(h.target_tokens), len(r.source_tokens)
            assert h.attention is not None
            torch.testing.assert_close(a[..., t0 : t0 + t, s0 : s0 + s], h.attention[..., :t, :s])
            assert float(a[..., t0 : t0 + t, :s0].abs().sum()) == 0.0
            t0, s0 = t0 + t, s0 + s
    assert joined.text == joined.hypotheses[0].text


def test_spans_are_copied_through_and_their_tokens_and_attention_match_the_texts(tiny_bundle: Path) -> None:
    src, _ = reverse_task(4, seed=5)
    texts = [f"{src[0]} 🙂 {src[1]}", f"{src[2]} 1102 , www.example.com/x", "🙂 12345", src[3].upper()]
    translator = Translator(tiny_bundle, engine="torch")
    results = translator.translate(texts, beam_size=3, n_best=2, return_attention=True)
    spans = [["🙂"], ["1102", "www.example.com/x"], ["🙂 12345"], []]
    tok = translator.tokenizer

    def pieces(text: str) -> list[str]:
        return tok.pieces(tok.encode(text))

    for text, r, wanted in zip(texts, results, spans, strict=True):
        assert r.source == text
        # tokens: of the texts as given and returned; for text in capitals, of the text the
        # model translated, in sentence case with its first word truecased (lowercase: the
        # tiny bundle's truecase.txt has every word of its lowercase corpus), and its translation
        sentence_case = text.upper() == text and text.lower() != text and " " in text
        model_text = text.lower() if sentence_case else text
        assert r.source_tokens == pieces(model_text)
        for h in r.hypotheses:
            for span in wanted:
                assert h.text.count(span) == 1, (text, h.text)
            assert pieces(h.text.lower() if sentence_case else h.text) == [
                p.lower() if sentence_case else p for p in h.target_tokens
            ]
            assert h.attention is not None
            assert h.attention.shape[-2:] == (len(h.target_tokens) + 1, len(r.source_tokens) + 1)
            torch.testing.assert_close(h.attention.sum(-1), torch.ones(h.attention.shape[:-1]))
    assert results[2].text == "🙂 12345"  # nothing to translate: copied as it is
    capitals = results[3].text
    assert capitals == capitals.upper() and any(c.isalpha() for c in capitals)
    # the model sees the span-free, truecased text: as if it were given that
    model_sees = [f"{src[0]} {src[1]}", src[3]]
    plain = Translator(tiny_bundle, engine="torch", verbatim=False).translate(model_sees, beam_size=3)
    assert results[0].text.replace(" 🙂", "").replace("🙂 ", "") == plain[0].text
    assert capitals == plain[1].text.upper()


def test_a_frame_goes_back_around_the_translation_of_its_inside(tiny_bundle: Path) -> None:
    src, _ = reverse_task(2, seed=11)
    translator = Translator(tiny_bundle, engine="torch")
    framed = translator.translate([f'- "{src[0]}"', f"({src[1]})"], beam_size=3, return_attention=True)
    inside = translator.translate(src, beam_size=3)
    tok = translator.tokenizer
    for f, i, (head, tail) in zip(framed, inside, [('- "', '"'), ("(", ")")], strict=True):
        assert f.text == head + i.text + tail
        assert f.hypotheses[0].log_prob == pytest.approx(i.hypotheses[0].log_prob, abs=1e-4)
        assert f.source_tokens == tok.pieces(tok.encode(f.source))  # tokens of the texts as given and returned
        h = f.hypotheses[0]
        assert h.target_tokens == tok.pieces(tok.encode(h.text))
        assert h.attention is not None
        assert h.attention.shape[-2:] == (len(h.target_tokens) + 1, len(f.source_tokens) + 1)


def test_markup_is_kept_and_the_words_translated_as_without_it(tiny_bundle: Path) -> None:
    src, _ = reverse_task(3, seed=13)
    first, *rest = src[0].split(" ", 1)
    texts = [
        f"<p>{src[0]}</p>",  # around the sentence: a frame
        f"<b>{first}</b> {rest[0] if rest else ''}".strip(),  # a pair around a word
        f'<ul><li>{src[1]}.</li><li><a href="https://x.org/?a=1&amp;b=2">{src[2]}</a>.</li></ul>',
    ]
    translator = Translator(tiny_bundle, engine="torch")
    framed, paired, listed = translator.translate(texts, beam_size=3, return_attention=True)
    plain = translator.translate([src[0], src[0]], beam_size=3)
    assert framed.text == f"<p>{plain[0].text}</p>"
    # the tags come back once each, in order, and the words between them are the model's
    assert re.fullmatch(r"[^<>]*<b>[^<>]*</b>[^<>]*", paired.text), paired.text
    assert re.sub(r"</?b>", "", paired.text).split() == plain[1].text.split()
    tags = re.findall(r"<[^<>]+>", listed.text)
    assert tags == ["<ul>", "<li>", "</li>", "<li>", '<a href="https://x.org/?a=1&amp;b=2">', "</a>", "</li>", "</ul>"]
    assert listed.text.startswith("<ul><li>") and listed.text.endswith("</li></ul>")


def test_a_word_in_capitals_is_translated_as_in_lowercase_and_its_translation_capitalized(tiny_bundle: Path) -> None:
    src = ["the dog sits on a green cat", "a small boy runs in the woman"]
    shouted = [s.replace("dog", "DOG").replace("boy", "BOY") for s in src]
    translator = Translator(tiny_bundle, engine="torch")
    plain = translator.translate(src, beam_size=3)
    loud = translator.translate(shouted, beam_size=3, return_attention=True)
    tok = translator.tokenizer
    for p, r, word in zip(plain, loud, ["DOG", "BOY"], strict=True):
        assert r.text.lower() == p.text.lower()  # the model saw the word in lowercase
        assert word in r.text.split()  # and its translation (the reversed word) went back in capitals
        h = r.hypotheses[0]
        assert h.target_tokens == tok.pieces(tok.encode(h.text))  # tokens of the text returned


def test_a_misspelt_word_is_translated_as_the_word_it_misspells(tiny_bundle: Path) -> None:
    assert (tiny_bundle / spelling.FILE).is_file()  # training wrote the corpus's word counts
    src = ["the green dog sits on a woman", "a small girl jumps in the cat"]
    typed = ["the gren dog sits on a wmoan", "a smal girl jmups in the cat"]
    translator = Translator(tiny_bundle, engine="torch")
    plain = translator.translate(src, beam_size=3)
    corrected = translator.translate(typed, beam_size=3, return_attention=True)
    as_typed = Translator(tiny_bundle, engine="torch", verbatim=False).translate(typed, beam_size=3)
    for p, c, t in zip(plain, corrected, as_typed, strict=True):
        assert c.text == p.text != t.text
        assert c.hypotheses[0].attention is not None
    # a word split in two: the tokens (and attention) are the text's as typed, word for word
    joined = translator.translate(["the greendog sits on a woman"], beam_size=3, return_attention=True)[0]
    assert joined.text == translator.translate(["the green dog sits on a woman"], beam_size=3)[0].text
    tok = translator.tokenizer
    assert joined.source_tokens == tok.pieces(tok.encode("the greendog sits on a woman"))
    attention = joined.hypotheses[0].attention
    assert attention is not None and attention.shape[-1] == len(joined.source_tokens) + 1


def test_a_question_is_translated_as_a_statement_and_keeps_its_mark(tiny_bundle: Path) -> None:
    src, _ = reverse_task(2, seed=9)
    translator = Translator(tiny_bundle, engine="torch")
    asked = translator.translate([s + "?" for s in src], beam_size=3, n_best=2, return_attention=True)
    stated = translator.translate([s + "." for s in src], beam_size=3, n_best=2)
    tok = translator.tokenizer
    for q, st in zip(asked, stated, strict=True):
        assert q.source_tokens == tok.pieces(tok.encode(q.source))  # tokens of the texts as given and returned
        for hq, hs in zip(q.hypotheses, st.hypotheses, strict=True):
            assert hq.text == hs.text.rstrip(".").rstrip() + " ?"  # (the tiny model may end with "..")
            assert hq.log_prob == pytest.approx(hs.log_prob, abs=1e-4)
            assert hq.target_tokens == tok.pieces(tok.encode(hq.text))
            assert hq.attention is not None
            assert hq.attention.shape[-2:] == (len(hq.target_tokens) + 1, len(q.source_tokens) + 1)


def test_blocked_repeats_keep_every_hypothesis_from_writing_a_word_twice(tiny_bundle: Path) -> None:
    src, _ = reverse_task(60, seed=11)
    translator = Translator(tiny_bundle, engine="torch")
    tok = translator.tokenizer

    def doubled(pieces: list[str]) -> bool:  # a run of pieces spelling two letters or more, twice in a row
        return repeated_run([tok.sp.PieceToId(p) for p in pieces], tok.repeat_weights)

    off = translator.translate(src, beam_size=4, n_best=4, block_repeats=False)
    on = translator.translate(src, beam_size=4, n_best=4)
    assert any(doubled(h.target_tokens) for r in off for h in r.hypotheses)  # the tiny model does repeat
    assert not any(doubled(h.target_tokens) for r in on for h in r.hypotheses)
    # sentences whose beams never met a repeat are translated alike
    assert sum(a.text == b.text for a, b in zip(off, on, strict=True)) > len(src) // 2


def test_verbatim_off_gives_the_text_to_the_model_as_it_is(tiny_bundle: Path) -> None:
    src, _ = reverse_task(1, seed=5)
    on = Translator(tiny_bundle, engine="torch")
    off = Translator(tiny_bundle, engine="torch", verbatim=False)
    [copied] = on.translate(["🙂 12345"], beam_size=1)
    [raw] = off.translate(["🙂 12345"], beam_size=1)
    assert copied.text == "🙂 12345"
    assert raw.text != copied.text  # the tiny model cannot spell either
    assert off.translate([src[0]], beam_size=1)[0].text == on.translate([src[0]], beam_size=1)[0].text


def test_a_long_sentence_is_translated_clause_by_clause(tiny_bundle: Path) -> None:
    src, _ = reverse_task(40, seed=13)
    long = ", and a ".join(s.rstrip(".?") for s in src[:8])  # "a": a clause with a subject
    clauses = split_clauses(long)
    assert len(clauses) > 1
    translator = Translator(tiny_bundle, engine="torch")
    parts = translator.translate([c.text for c in clauses], beam_size=2)
    [joined] = translator.translate([long], beam_size=2, return_attention=True)
    assert joined.text == join_clauses(clauses, [p.text for p in parts])
    assert ", et " in joined.text
    tok = translator.tokenizer
    assert joined.source_tokens == tok.pieces(tok.encode(long))
    h = joined.hypotheses[0]
    assert h.target_tokens == tok.pieces(tok.encode(h.text))
    assert h.attention is not None
    assert h.attention.shape[-2:] == (len(h.target_tokens) + 1, len(joined.source_tokens) + 1)
    # off: the sentence is one unit
    [whole] = Translator(tiny_bundle, engine="torch", clauses=False).translate([long], beam_size=2)
    assert whole.text != joined.text


def test_a_negated_sentence_is_the_affirmative_translation_negated_at_its_aligned_verb(tiny_bundle: Path) -> None:
    from translator.align import align
    from translator.negation import affirm, negate

    src, _ = reverse_task(4, seed=13)
    negated = [f"{s.split()[0]} is not {' '.join(s.split()[1:])}." for s in src]
    translator = Translator(tiny_bundle, engine="torch")
    got = translator.translate(negated, beam_size=3, n_best=2)
    affirmatives = [affirm(n) for n in negated]
    assert all(a is not None for a in affirmatives)
    plain = translator.translate([a[0] for a in affirmatives if a], beam_size=3, n_best=2)
    tok = translator.tokenizer
    for result, stated, said in zip(got, plain, affirmatives, strict=True):
        assert said is not None
        affirmative, negations = said
        for h, hs in zip(result.hypotheses, stated.hypotheses, strict=True):
            assert h.log_prob == pytest.approx(hs.log_prob, abs=1e-4)  # the same translation of the affirmative
            # its verbs: the words its attention links to the English verb (force-decoded: the same links)
            [a] = align(translator, [affirmative], [hs.text])
            aligned = [{j for i, j, _ in a.links if i in n.words} for n in negations]
            assert h.text == negate(hs.text, negations, aligned)
            assert h.target_tokens == tok.pieces(tok.encode(h.text))
    assert any(" pas" in h.text for r in got for h in r.hypotheses)  # (the tiny model's words can be verbs)
    # off with the other input rules: the model sees the sentence as it is
    raw = Translator(tiny_bundle, engine="torch", verbatim=False).translate(negated[:1], beam_size=3)
    assert raw[0].source_tokens == tok.pieces(tok.encode(negated[0]))
