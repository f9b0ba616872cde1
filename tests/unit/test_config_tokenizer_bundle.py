"""Configs, the tokenizer round trip, and bundle checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import reverse_task

from training.config import load_train_config
from translator.bundle import load_bundle, save_bundle
from translator.config import ModelConfig
from translator.errors import TranslatorError
from translator.model import Transformer
from translator.tokenizer import Tokenizer, train_sentencepiece


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src, tgt = reverse_task(500, seed=3)
    extra = ["Un homme fait du vélo dans la rue, à côté d'une église.", "Ça coûte 5 € !"]
    return train_sentencepiece(src + tgt + extra * 20, tmp_path_factory.mktemp("spm") / "spm", vocab_size=80)


def test_tokenizer_round_trip(spm_model: Path) -> None:
    tok = Tokenizer(spm_model)
    for text in [
        "red dog runs on the big cat",
        "Un homme fait du vélo dans la rue, à côté d'une église.",
        "Ça coûte 5 € !",
    ]:
        ids = tok.encode(text)
        assert all(i > 3 for i in ids), "no special ids inside text"
        assert tok.decode(ids) == text


def test_tokenizer_ignores_invisible_formatting_characters(spm_model: Path) -> None:
    tok = Tokenizer(spm_model)
    plain = "the red dog runs on the big cat"
    for text in (
        "the red\u200b dog\u200d runs\ufeff on the big cat",  # zero-width space/joiner, BOM
        "\u200ethe red dog ru\u00adns on the \u2060big cat\u202c",  # marks, soft hyphen, word joiner
    ):
        assert tok.encode(text) == tok.encode(plain)
        assert tok.encode_pieces(text) == tok.encode_pieces(plain)
    assert tok.encode("\u200b \ufeff") == []


def test_sampled_segmentations_spell_the_text_and_follow_the_seed(spm_model: Path) -> None:
    import sentencepiece

    tok = Tokenizer(spm_model)
    text = "Un homme fait du vélo dans la rue, à côté d'une église."

    def draws() -> list[list[int]]:
        sentencepiece.set_random_generator_seed(7)
        return [tok.sample(text + "\u200b", alpha=0.2) for _ in range(20)]

    first = draws()
    assert first == draws(), "the same seed draws the same segmentations"
    assert all(tok.decode(ids) == text for ids in first), "every segmentation spells the text, invisibles removed"
    assert any(ids != tok.encode(text) for ids in first), "sampling does not always give the best segmentation"
    assert len({tuple(ids) for ids in first}) > 1


def test_repeat_weights_count_letters_and_a_word_start(spm_model: Path) -> None:
    tok = Tokenizer(spm_model)
    weights = dict(zip(tok.pieces(list(range(tok.vocab_size))), tok.repeat_weights.tolist(), strict=True))
    for piece in ("<pad>", "<unk>", "<s>", "</s>", "▁", ",", "5"):
        assert weights.get(piece, 0) == 0, piece
    words = [p for p in weights if p.startswith("▁") and p[1:].isalpha()]
    inner = [p for p in weights if not p.startswith("▁") and p.isalpha() and not p.startswith("<")]
    assert words and inner
    for p in words:  # a word (or its start) weighs its letters plus one: never free to follow itself
        assert weights[p] == len(p) >= 2
    for p in inner:  # inside a word, its letters: "s" may follow itself, "ed" may not
        assert weights[p] == len(p)
    assert any(weights[p] == 1 for p in inner) and any(weights[p] >= 2 for p in inner)


def test_whole_words_are_the_lowercase_words_of_one_piece(spm_model: Path) -> None:
    tok = Tokenizer(spm_model)
    words = tok.whole_words()
    assert words and all(len(w) >= 3 and w.isalpha() and w.islower() for w in words)
    for w in words:  # each is one piece, and a word in capitals is not
        assert tok.encode_pieces(w) == ["▁" + w]
    assert not words & {w.upper() for w in words}


def test_tokenizer_missing_or_corrupt(tmp_path: Path) -> None:
    with pytest.raises(TranslatorError, match="not found"):
        Tokenizer(tmp_path / "nope.model")
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"not a sentencepiece model")
    with pytest.raises(TranslatorError, match="corrupt"):
        Tokenizer(bad)


def test_model_config_save_load_and_unknown_keys(tmp_path: Path) -> None:
    cfg = ModelConfig(vocab_size=123, d_model=48, n_heads=3)
    cfg.save(tmp_path / "config.json")
    assert ModelConfig.load(tmp_path / "config.json") == cfg
    (tmp_path / "bad.json").write_text(json.dumps({"d_model": 64, "n_layers": 3}))
    with pytest.raises(TranslatorError, match=r"unknown key.*n_layers"):
        ModelConfig.load(tmp_path / "bad.json")
    with pytest.raises(TranslatorError, match="divisible"):
        ModelConfig(d_model=50, n_heads=4).validate()


def test_train_config_layers_preset_and_overrides() -> None:
    cfg = load_train_config("multi30k", ["model.d_model=128", "lr=0.002", "precision=fp32"])
    assert cfg.model.d_model == 128 and cfg.lr == 0.002 and cfg.precision == "fp32"
    assert cfg.model.vocab_size == 8000  # from the preset
    with pytest.raises(TranslatorError, match="unknown key"):
        load_train_config("tiny", ["learning_rate=1"])
    with pytest.raises(TranslatorError, match="not found"):
        load_train_config("no-such-preset")
    with pytest.raises(TranslatorError, match="precision"):
        load_train_config("tiny", ["precision=fp8"])
    with pytest.raises(TranslatorError, match="lr_schedule must be"):
        load_train_config("tiny", ["lr_schedule=cosine"])
    with pytest.raises(TranslatorError, match="decay_steps > warmup_steps"):
        load_train_config("tiny", ["lr_schedule=linear", "warmup_steps=50", "decay_steps=50"])


def _bundle(tmp_path: Path, spm_model: Path) -> Path:
    torch.manual_seed(0)
    tok = Tokenizer(spm_model)
    model = Transformer(ModelConfig(vocab_size=tok.vocab_size, d_model=32, n_heads=2, d_ff=64,
                                    encoder_layers=1, decoder_layers=1))  # fmt: skip
    save_bundle(tmp_path / "m", model, spm_model, name="test")
    return tmp_path / "m"


def test_bundle_round_trip_in_fp16(tmp_path: Path, spm_model: Path) -> None:
    path = _bundle(tmp_path, spm_model)
    model, tok, manifest = load_bundle(path)
    assert manifest["name"] == "test" and set(manifest["files"]) == {"config.json", "weights.pt", "spm.model"}
    assert model.embed.weight.dtype == torch.float32
    assert tok.vocab_size == model.cfg.vocab_size


def test_bundle_errors_name_the_problem(tmp_path: Path, spm_model: Path) -> None:
    with pytest.raises(TranslatorError, match="not found"):
        load_bundle(tmp_path / "missing")
    path = _bundle(tmp_path, spm_model)
    weights = path / "weights.pt"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(TranslatorError, match=r"weights\.pt does not match its manifest"):
        load_bundle(path)
    (path / "weights.pt").unlink()
    with pytest.raises(TranslatorError, match=r"weights\.pt is listed in the manifest but missing"):
        load_bundle(path)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(TranslatorError, match="not valid JSON"):
        load_bundle(path)
