"""The CTranslate2 baseline: conversion of the tiny bundle and parity with the PyTorch engine."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("ctranslate2")

from helpers import reverse_task

from translator.bundle import load_bundle
from translator.config import DecodeConfig
from translator.ct2 import SOURCE_INFO, Ct2Engine, convert_bundle
from translator.errors import TranslatorError
from translator.inference import TranslationResult, Translator
from translator.search import Hypothesis

pytestmark = pytest.mark.integration

SOURCES = reverse_task(40, seed=11)[0]


@pytest.fixture(scope="module")
def ct2_dir(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_bundle(tiny_bundle, tmp_path_factory.mktemp("ct2") / "model")


@pytest.fixture(scope="module")
def engine(ct2_dir: Path) -> Ct2Engine:
    return Ct2Engine(ct2_dir, intra_threads=1)


@pytest.fixture(scope="module")
def reference(tiny_bundle: Path) -> Translator:
    return Translator(tiny_bundle, threads=1)


def compare(
    reference: Translator, engine: Ct2Engine, **options: Any
) -> tuple[list[TranslationResult], list[list[int]], list[Hypothesis], list[bool]]:
    """Torch results, source ids, the best CTranslate2 hypotheses, and whether the tokens agree."""
    results = reference.translate(SOURCES, block_repeats=False, **options)
    ids = reference.encode_sources(SOURCES)
    best = [hyps[0] for hyps in engine.translate_ids(ids, DecodeConfig(block_repeats=False, **options))]
    same = [engine.to_pieces(h.tokens) == r.hypotheses[0].target_tokens for r, h in zip(results, best, strict=True)]
    return results, ids, best, same


def test_conversion_writes_a_ctranslate2_model(tiny_bundle: Path, ct2_dir: Path, engine: Ct2Engine) -> None:
    names = {p.name for p in ct2_dir.iterdir()}
    assert {"model.bin", "config.json", "shared_vocabulary.json", "spm.model", SOURCE_INFO} <= names
    config = json.loads((ct2_dir / "config.json").read_text())
    assert config["layer_norm_epsilon"] == pytest.approx(1e-5)
    assert (config["unk_token"], config["bos_token"], config["eos_token"]) == ("<unk>", "<s>", "</s>")
    assert config["decoder_start_token"] == "<s>" and config["add_source_eos"] and not config["add_source_bos"]
    _, tokenizer, _ = load_bundle(tiny_bundle)
    assert engine.pieces == tokenizer.pieces(list(range(tokenizer.vocab_size)))  # ids are our ids
    assert (engine.bos_id, engine.eos_id) == (2, 3)
    assert json.loads((ct2_dir / SOURCE_INFO).read_text())["quantization"] is None


def test_forced_decoding_log_probs_match(tiny_bundle: Path, engine: Ct2Engine) -> None:
    """Scores of arbitrary (mostly wrong) targets: checks positions, scaling, norms, tied projection."""
    model, tokenizer, _ = load_bundle(tiny_bundle)
    rng = random.Random(0)
    sources = [tokenizer.encode(s) for s in SOURCES[:20]]
    targets = [tokenizer.encode(" ".join(rng.sample(s.split(), len(s.split())) * 2)) for s in SOURCES[:20]]
    ct2 = engine.score_ids(sources, targets)
    worst = 0.0
    with torch.inference_mode():
        for src, tgt, got in zip(sources, targets, ct2, strict=True):
            logits, _ = model(torch.tensor([[*src, 3]]), torch.tensor([[2, *tgt]]))
            want = logits[0].log_softmax(-1).gather(1, torch.tensor([[*tgt, 3]]).t()).flatten()
            assert len(got) == len(tgt) + 1  # every token and the final EOS
            worst = max(worst, (want - torch.tensor(got)).abs().max().item())
    assert worst < 3e-5  # ~1e-5 here; a 1e-6 layer-norm eps gives ~1e-4, CT2's own positions ~10


@pytest.mark.parametrize("max_length", [256, 2])  # 2: most sentences are cut at the length limit
def test_greedy_matches_torch_exactly(reference: Translator, engine: Ct2Engine, max_length: int) -> None:
    results, _, best, same = compare(reference, engine, beam_size=1, max_length=max_length)
    assert all(same)
    for r, h in zip(results, best, strict=True):
        assert h.score == pytest.approx(r.score, abs=1e-4)
        assert h.log_prob == pytest.approx(r.hypotheses[0].log_prob, abs=1e-4)


@pytest.mark.parametrize("length_penalty", [1.0, 0.6])
def test_beam_matches_torch(reference: Translator, engine: Ct2Engine, length_penalty: float) -> None:
    results, _, best, same = compare(reference, engine, beam_size=4, length_penalty=length_penalty)
    assert sum(same) >= 0.95 * len(SOURCES)
    for r, h, ok in zip(results, best, same, strict=True):
        if ok:
            assert h.score == pytest.approx(r.score, abs=1e-4)


@pytest.mark.parametrize("beam_size", [1, 4])
def test_attention_is_the_last_layer_averaged_over_heads(
    reference: Translator, engine: Ct2Engine, beam_size: int
) -> None:
    results, ids, best, same = compare(reference, engine, beam_size=beam_size, return_attention=True)
    for r, src, h, ok in zip(results, ids, best, same, strict=True):
        if not ok:
            continue
        attention = h.attention
        assert attention is not None and attention.shape == (len(h.tokens) + 1, 1, 1, len(src) + 1)
        torch_attention = r.hypotheses[0].attention
        assert torch_attention is not None
        want = torch_attention[-1].mean(dim=0)[:, : len(src) + 1]  # (T+1, S+1), without batch padding
        torch.testing.assert_close(attention[:, 0, 0], want, atol=1e-4, rtol=0)


def test_int8_conversion(tiny_bundle: Path, ct2_dir: Path, tmp_path: Path, reference: Translator) -> None:
    out = convert_bundle(tiny_bundle, tmp_path / "int8", quantization="int8")
    assert (out / "model.bin").stat().st_size < (ct2_dir / "model.bin").stat().st_size
    engine = Ct2Engine(out, intra_threads=1)
    assert engine.translator.compute_type.startswith("int8")
    results, _, best, same = compare(reference, engine, beam_size=4)
    assert sum(same) >= 0.9 * len(SOURCES)
    assert max(abs(h.score - r.score) for h, r in zip(best, results, strict=True)) < 0.5


def test_clear_errors(tiny_bundle: Path, ct2_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(TranslatorError, match="already exists"):
        convert_bundle(tiny_bundle, ct2_dir)
    with pytest.raises(TranslatorError, match="unknown quantization"):
        convert_bundle(tiny_bundle, tmp_path / "x", quantization="int3")
    with pytest.raises(TranslatorError, match="not a model bundle"):
        convert_bundle(tmp_path, tmp_path / "y")
    with pytest.raises(TranslatorError, match="not a CTranslate2 model"):
        Ct2Engine(tiny_bundle)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_blocked_repeats_are_refused_not_ignored(reference: Translator, engine: Ct2Engine) -> None:
    with pytest.raises(TranslatorError, match="block_repeats=False"):
        engine.translate_ids(reference.encode_sources(SOURCES[:1]), DecodeConfig())


def test_empty_sources_and_sub_batches(reference: Translator, engine: Ct2Engine) -> None:
    ids = reference.encode_sources(SOURCES[:10])
    cfg = DecodeConfig(beam_size=2, return_attention=True, block_repeats=False)
    whole = engine.translate_ids([[], *ids], cfg)
    split = engine.translate_ids([[], *ids], cfg, max_batch_size=3)
    assert whole[0] == split[0] == [Hypothesis([], 0.0, 0.0, None)]
    assert [h[0].tokens for h in whole] == [h[0].tokens for h in split]
    for a, b in zip(whole[1:], split[1:], strict=True):
        assert a[0].attention is not None and b[0].attention is not None
        torch.testing.assert_close(a[0].attention, b[0].attention, atol=1e-5, rtol=0)
