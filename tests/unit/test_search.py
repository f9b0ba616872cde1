"""Greedy and beam search against a fake step model with known probabilities."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch import Tensor

from translator.config import MAX_BEAM_SIZE, DecodeConfig
from translator.errors import TranslatorError
from translator.search import StepOutput, group_index, repeating_tokens, search, sentence_groups

BOS, EOS, A, B, C = 2, 3, 4, 5, 6
V = 7


class FakeStep:
    """Next-token distributions that depend only on the prefix (a trie).

    From the start, A is most likely (0.5) but leads to a poor continuation;
    B (0.4) leads to a confident EOS. Greedy takes A; beam search finds B.
    """

    bos_id, eos_id = BOS, EOS

    table: ClassVar[dict[tuple[int, ...], dict[int, float]]] = {
        (): {A: 0.5, B: 0.4, C: 0.1},
        (A,): {EOS: 0.3, A: 0.36, C: 0.34},
        (B,): {EOS: 0.9, C: 0.1},
        (A, A): {EOS: 1.0},
        (A, C): {EOS: 1.0},
        (B, C): {EOS: 1.0},
        (C,): {EOS: 1.0},
    }

    def __init__(self) -> None:
        self.calls = 0
        self.rows: list[int] = []  # rows fed at each step

    def encode(self, sources: list[list[int]]) -> Any:
        return {"prefix": [() for _ in sources], "src": [tuple(s) for s in sources]}

    def decode_step(self, state: Any, tokens: Tensor, k: int, need_attention: bool) -> tuple[StepOutput, Any]:
        self.calls += 1
        self.rows.append(len(tokens))
        prefixes = []
        for p, t in zip(state["prefix"], tokens.tolist(), strict=True):
            prefixes.append(p if t == BOS else (*p, t))
        logp = torch.full((len(prefixes), V), float("-inf"))
        for row, p in enumerate(prefixes):
            for tok, prob in self.table.get(p, {EOS: 1.0}).items():
                logp[row, tok] = math.log(prob)
        attn = torch.ones(len(prefixes), 1, 1, 3) / 3 if need_attention else None
        return top_k(logp, k, attn), {"prefix": prefixes, "src": state["src"]}

    def reorder(self, state: Any, index: Tensor) -> Any:
        idx = index.tolist()
        return {"prefix": [state["prefix"][i] for i in idx], "src": [state["src"][i] for i in idx]}


def top_k(logp: Tensor, k: int, attn: Tensor | None = None) -> StepOutput:
    values, ids = logp.topk(min(k, logp.size(-1)), dim=-1)  # as the engines do
    return StepOutput(values, ids, logp[:, EOS], attn)


SRC = [[10, 11, EOS]]


def test_greedy_takes_the_locally_best_token() -> None:
    [[h]] = search(FakeStep(), SRC, DecodeConfig(beam_size=1, length_penalty=0))
    assert h.tokens == [A, A]
    assert h.log_prob == pytest.approx(math.log(0.5 * 0.36 * 1.0))


def test_beam_finds_the_better_sequence_and_nbest_is_sorted() -> None:
    [hyps] = search(FakeStep(), SRC, DecodeConfig(beam_size=3, n_best=3, length_penalty=0))
    assert hyps[0].tokens == [B]
    assert hyps[0].log_prob == pytest.approx(math.log(0.4 * 0.9))
    scores = [h.score for h in hyps]
    assert scores == sorted(scores, reverse=True)
    assert len({tuple(h.tokens) for h in hyps}) == 3


def test_beam_expands_a_sentence_into_its_beams_after_the_first_step() -> None:
    step = FakeStep()
    search(step, [[10, EOS], [11, EOS]], DecodeConfig(beam_size=3))
    assert step.rows[:2] == [2, 6], "the first step sees one row per sentence, later steps k per sentence"


def test_length_penalty_divides_by_length() -> None:
    [hyps] = search(FakeStep(), SRC, DecodeConfig(beam_size=3, n_best=2, length_penalty=1.0))
    for h in hyps:
        assert h.score == pytest.approx(h.log_prob / (len(h.tokens) + 1))


def test_batch_gives_the_same_result_as_one_by_one() -> None:
    sources = [[10, EOS], [11, 12, 13, EOS], [14, EOS]]
    cfg = DecodeConfig(beam_size=2, n_best=2)
    batched = search(FakeStep(), sources, cfg)
    for src, hyps in zip(sources, batched, strict=True):
        alone = search(FakeStep(), [src], cfg)[0]
        assert [(h.tokens, round(h.score, 6)) for h in hyps] == [(h.tokens, round(h.score, 6)) for h in alone]


def test_max_length_forces_eos() -> None:
    class Babbler(FakeStep):
        table: ClassVar[dict[tuple[int, ...], dict[int, float]]] = {}

        def decode_step(self, state: Any, tokens: Tensor, k: int, need_attention: bool) -> tuple[StepOutput, Any]:
            logp = torch.log(torch.tensor([[0, 0, 0, 0, 1.0, 0, 0]] * tokens.numel()))  # never EOS
            return top_k(logp, k), state

    cfg = DecodeConfig(beam_size=1, max_length=5)
    [[h]] = search(Babbler(), SRC, cfg)
    assert h.tokens == [A] * 5
    [[h]] = search(Babbler(), SRC, DecodeConfig(beam_size=3, max_length=4))
    assert h.tokens == [A] * 4


def test_a_word_does_not_follow_itself_when_repeats_are_blocked() -> None:
    weights = np.zeros(V, np.int64)
    weights[A] = 2  # A is a word (or two letters of one)
    [[h]] = search(FakeStep(), SRC, DecodeConfig(beam_size=1, length_penalty=0), weights)
    assert h.tokens == [A, C]  # not A A (0.36): the next best, C (0.34)
    assert h.log_prob == pytest.approx(math.log(0.5 * 0.34))
    [hyps] = search(FakeStep(), SRC, DecodeConfig(beam_size=3, n_best=3, length_penalty=0), weights)
    assert [A, A] not in [h.tokens for h in hyps]
    assert [h.tokens for h in hyps] == [[B], [A, C], [A]]
    # off, or A too light (a single letter inside a word): as before
    [[h]] = search(FakeStep(), SRC, DecodeConfig(beam_size=1, block_repeats=False), weights)
    assert h.tokens == [A, A]
    weights[A] = 1
    [[h]] = search(FakeStep(), SRC, DecodeConfig(beam_size=1), weights)
    assert h.tokens == [A, A]


def test_repeating_tokens_complete_a_run_of_one_to_three_pieces() -> None:
    w = np.array([0, 0, 0, 0, 1, 1, 2, 2], np.int64)  # 4, 5: single letters; 6, 7: words
    history = np.array(
        [
            [0, 0, 6, 7, 6],  # 6 would repeat the word 6, 7 the run "6 7"
            [4, 5, 4, 5, 4],  # 5 would repeat "4 5" (weight 2); 4 after 4 weighs only 1
            [6, 4, 5, 6, 4],  # 5 would repeat "6 4 5"
            [4, 4, 4, 4, 4],  # 4 would repeat "4 4" and "4 4 4"
        ]
    )
    out = repeating_tokens(history, w)
    assert out.shape == (4, 3)
    assert out.tolist() == [[6, 7, -1], [-1, 5, -1], [-1, -1, 5], [-1, 4, 4]]
    # too short a history for a run: only what fits
    assert repeating_tokens(np.array([[6]]), w).tolist() == [[6]]
    assert repeating_tokens(np.zeros((2, 0), np.int64), w).shape == (2, 0)


def test_a_run_of_pieces_does_not_follow_itself() -> None:
    class Looper(FakeStep):
        """A after BOS or B, B after A (0.6 each), else C (0.3) or EOS (0.1); EOS after C."""

        def decode_step(self, state: Any, tokens: Tensor, k: int, need_attention: bool) -> tuple[StepOutput, Any]:
            logp = torch.full((tokens.numel(), V), float("-inf"))
            for row, t in enumerate(tokens.tolist()):
                if t == C:
                    logp[row, EOS] = 0.0
                else:
                    logp[row, B if t == A else A], logp[row, C], logp[row, EOS] = map(math.log, (0.6, 0.3, 0.1))
            return top_k(logp, k), state

    weights = np.zeros(V, np.int64)
    weights[[A, B]] = 1  # single letters: a run "A B" weighs 2
    cfg = DecodeConfig(beam_size=1, max_length=8)
    [[free]] = search(Looper(), SRC, dataclasses.replace(cfg, block_repeats=False), weights)
    assert free.tokens == [A, B] * 4
    [[h]] = search(Looper(), SRC, cfg, weights)
    assert h.tokens == [A, B, A, C]  # the loop is cut where it would close: not "A B A B"
    [hyps] = search(Looper(), SRC, dataclasses.replace(cfg, beam_size=3, n_best=3), weights)
    for h in hyps:
        t = h.tokens
        assert not any(t[i : i + m] == t[i + m : i + 2 * m] for m in (2, 3) for i in range(len(t) - 2 * m + 1)), t


def test_attention_history_follows_the_hypothesis() -> None:
    [hyps] = search(FakeStep(), SRC, DecodeConfig(beam_size=2, return_attention=True))
    att = hyps[0].attention
    assert att is not None and att.shape == (len(hyps[0].tokens) + 1, 1, 1, 3)


def test_finished_sentences_leave_the_batch() -> None:
    step = FakeStep()
    search(step, [[10, EOS]] * 4, DecodeConfig(beam_size=1))
    assert step.calls == 3  # A, A, EOS: no extra steps for rows already done


@pytest.mark.parametrize(
    "bad",
    [{"beam_size": 0}, {"beam_size": MAX_BEAM_SIZE + 1}, {"n_best": 3, "beam_size": 2}, {"max_length": 0}],
)
def test_bad_decode_config_is_a_clear_error(bad: dict[str, int]) -> None:
    with pytest.raises(TranslatorError, match=next(iter(bad))):
        DecodeConfig(**bad).validate()
    DecodeConfig(beam_size=MAX_BEAM_SIZE, n_best=MAX_BEAM_SIZE).validate()


@pytest.mark.parametrize(
    ("rows", "groups"),
    [
        ([0, 0, 1, 1, 2, 2], [0, 1, 2]),  # 2 beams per sentence
        ([4, 4, 4, 7, 7, 7], [4, 7]),
        ([0, 1, 2], [0, 1, 2]),  # one row per sentence
        ([0, 0, 1], [0, 0, 1]),  # unequal runs: a group per row
        ([1, 0, 0, 1], [1, 0, 0, 1]),
        ([3, 3], [3]),
        ([], []),
    ],
)
def test_sentence_groups(rows: list[int], groups: list[int]) -> None:
    assert sentence_groups(np.array(rows, np.int64)).tolist() == groups


def test_group_index_finds_each_sentence_among_the_old_groups() -> None:
    assert group_index(np.array([5, 6, 7]), np.array([7, 5])).tolist() == [2, 0]
    assert group_index(np.array([5, 5, 6]), np.array([6, 5, 5])).tolist() == [2, 0, 0]
