"""Attention alignments on the tiny reverse-task bundle: forced decoding, engines, CLI, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from translator.aer import evaluate_files, read_gold
from translator.align import Alignment, align, align_methods
from translator.cli import main
from translator.errors import TranslatorError
from translator.inference import Translator
from translator.links import format_pharaoh

pytestmark = pytest.mark.integration

HANSARDS = Path(__file__).resolve().parents[3] / "shared" / "data" / "hansards-align"


@pytest.fixture(scope="module")
def translator(tiny_bundle: Path) -> Translator:
    return Translator(tiny_bundle, engine="torch", device="cpu", threads=1)


@pytest.fixture(scope="module")
def pairs() -> tuple[list[str], list[str]]:
    from helpers import reverse_task

    return reverse_task(30, seed=7)


def anti_diagonal_recall_precision(alignments: list[Alignment]) -> tuple[float, float]:
    found = total = links = 0
    for a in alignments:
        n = len(a.source_words)
        gold = {(i, n - 1 - i) for i in range(n)}
        got = {(i, j) for i, j, _ in a.links}
        found += len(gold & got)
        total += n
        links += len(got)
    return found / total, found / max(links, 1)


def assert_same_links(a: list[tuple[int, int, float]], b: list[tuple[int, int, float]]) -> None:
    assert [(i, j) for i, j, _ in a] == [(i, j) for i, j, _ in b]
    assert [x for _, _, x in a] == pytest.approx([x for _, _, x in b], abs=1e-4)


def test_forced_attention_shape_and_rows(translator: Translator, pairs: tuple[list[str], list[str]]) -> None:
    src, tgt = pairs
    cfg = translator.config
    for a in align(translator, src[:8], tgt[:8], return_raw_attention=True):
        assert a.raw_attention is not None
        t, s = len(a.target_tokens), len(a.source_tokens)
        assert a.raw_attention.shape == (cfg.decoder_layers, cfg.n_heads, t + 1, s + 1)
        torch.testing.assert_close(a.raw_attention.sum(-1), torch.ones(cfg.decoder_layers, cfg.n_heads, t + 1))
        assert a.attention.shape == (len(a.target_words), len(a.source_words))
        torch.testing.assert_close(a.attention.sum(-1), torch.ones(len(a.target_words)))
        assert all(0.0 <= score <= 1.0 for _, _, score in a.links)


def test_forced_decoding_matches_the_search_attention(translator: Translator) -> None:
    """Forcing the model's own translation (batched, padded) reproduces the attention of the search."""
    src = ["red dog runs", "the big black cat sits on a boy", "girl jumps"]
    results = translator.translate(src, beam_size=1, return_attention=True)
    forced = align(translator, src, [r.text for r in results], return_raw_attention=True)
    translated = align(translator, src, beam_size=1)
    for r, f, t in zip(results, forced, translated, strict=True):
        assert f.raw_attention is not None
        torch.testing.assert_close(f.raw_attention, r.hypotheses[0].attention, atol=1e-5, rtol=1e-4)
        assert t.target == r.text
        assert_same_links(t.links, f.links)


def test_reverse_task_gives_the_anti_diagonal(translator: Translator, pairs: tuple[list[str], list[str]]) -> None:
    src, tgt = pairs
    recall, precision = anti_diagonal_recall_precision(align(translator, src, tgt))
    assert recall >= 0.85 and precision >= 0.85, (recall, precision)
    recall, precision = anti_diagonal_recall_precision(align(translator, src, method="t2s", layer=-1))
    assert recall >= 0.85 and precision >= 0.85, (recall, precision)


def test_a_pair_of_several_sentences_is_force_decoded_sentence_by_sentence(translator: Translator) -> None:
    """Each sentence is decoded against its own: no link crosses sentences, the attention is
    block-diagonal, and the links are those of the sentences aligned one by one."""
    first, second = ("red dog runs?", "runs dog red?"), ("big cat sits", "sits cat big")
    [whole] = align(translator, [f"{first[0]} {second[0]}"], [f"{first[1]} {second[1]}"], return_raw_attention=True)
    one, two = align(translator, [first[0], second[0]], [first[1], second[1]], return_raw_attention=True)
    shifted = [(i + 3, j + 3, score) for i, j, score in two.links]
    assert whole.pharaoh() == format_pharaoh([*one.links, *shifted])
    assert [s for *_, s in whole.links] == pytest.approx([s for *_, s in [*one.links, *shifted]], abs=1e-5)
    raw, s1, t1 = whole.raw_attention, len(one.source_tokens), len(one.target_tokens)
    assert raw is not None and one.raw_attention is not None
    assert raw.shape[-2:] == (t1 + len(two.target_tokens) + 1, s1 + len(two.source_tokens) + 1)
    assert float(raw[..., :t1, s1:-1].abs().sum()) == 0 and float(raw[..., t1:-1, :s1].abs().sum()) == 0
    assert torch.allclose(raw[..., :t1, :s1], one.raw_attention[..., :t1, :s1])
    [off] = align(translator, [f"{first[0]} {second[0]}"], [f"{first[1]} {second[1]}"], by_sentence=False,
                  return_raw_attention=True)  # fmt: skip
    assert off.raw_attention is not None and float(off.raw_attention[..., :t1, s1:-1].abs().sum()) > 0
    # sentences that do not pair up (2 against 1) are decoded whole
    [uneven] = align(translator, [f"{first[0]} {second[0]}"], ["runs dog red sits cat big"], return_raw_attention=True)
    assert uneven.raw_attention is not None and float(uneven.raw_attention[..., :t1, s1:-1].abs().sum()) > 0


def test_onnx_engine_gives_the_same_links(
    tiny_bundle: Path,
    translator: Translator,
    pairs: tuple[list[str], list[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from translator.onnx_export import export_bundle

    copy = tmp_path_factory.mktemp("align-onnx") / "model"
    shutil.copytree(tiny_bundle, copy)
    export_bundle(copy, ["fp32"])
    onnx = Translator(copy, engine="onnx", device="cpu", threads=1)
    assert getattr(onnx.engine, "name", "") == "onnx"
    src, tgt = pairs
    for method in ("grow-diag-final-and", "t2s"):
        a = align(translator, src, tgt, method=method, return_raw_attention=True)
        b = align(onnx, src, tgt, method=method, return_raw_attention=True)
        for x, y in zip(a, b, strict=True):
            assert_same_links(y.links, x.links)
            assert x.raw_attention is not None and y.raw_attention is not None
            torch.testing.assert_close(y.raw_attention, x.raw_attention, atol=1e-4, rtol=1e-3)
    # spans copied through (translator.verbatim) are placed by the attention: the same on both engines
    spans = [f"{s} 🙂" if k % 2 else f"{s} 1102 {s}" for k, s in enumerate(src[:6])]
    assert [r.text for r in onnx.translate(spans)] == [r.text for r in translator.translate(spans)]
    for x, y in zip(align(translator, spans), align(onnx, spans), strict=True):
        assert y.target == x.target
        assert_same_links(y.links, x.links)


def test_align_methods_reads_one_attention_pass_with_every_method(
    translator: Translator, pairs: tuple[list[str], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import translator.align as align_module

    src, tgt = pairs
    methods = [("grow-diag-final-and", None), ("threshold", 0.2), ("t2s", None)]
    separate = {
        tokenized: [
            align(translator, src[:6], tgt[:6], method=m, threshold=t or 0.3, tokenized=tokenized) for m, t in methods
        ]
        for tokenized in (False, True)
    }
    passes = []
    forced = align_module.forced_attention

    def counted(*args: Any) -> Any:
        passes.append(args)
        return forced(*args)

    monkeypatch.setattr(align_module, "forced_attention", counted)
    for tokenized in (False, True):
        together = align_methods(translator, src[:6], tgt[:6], methods, tokenized=tokenized)
        assert len(together) == len(methods)
        for one, many in zip(separate[tokenized], together, strict=True):
            for x, y in zip(one, many, strict=True):
                assert_same_links(y.links, x.links)
                assert (y.source_words, y.target_words) == (x.source_words, x.target_words)
    assert len(passes) == 2  # once per call, not once per method
    translations = align_methods(translator, src[:3], None, methods[:2], beam_size=1)
    assert [a.target for a in translations[0]] == [a.target for a in translations[1]]
    with pytest.raises(TranslatorError, match="at least one"):
        align_methods(translator, src[:1], tgt[:1], [])
    with pytest.raises(TranslatorError, match="method must be one of"):
        align_methods(translator, src[:1], tgt[:1], [("t2s", None), ("viterbi", None)])


def test_bad_inputs_are_clear_errors(translator: Translator) -> None:
    with pytest.raises(TranslatorError, match="got 2 sources but 1 targets"):
        align(translator, ["red dog", "a cat"], ["dog red"])
    with pytest.raises(TranslatorError, match="pair 2: the source is empty"):
        align(translator, ["red dog", "  "], ["dog red", "cat"])
    with pytest.raises(TranslatorError, match="pair 1: the target is empty"):
        align(translator, ["red dog"], [""])
    with pytest.raises(TranslatorError, match="must be a list of strings"):
        align(translator, "red dog")
    long = " ".join(["red"] * (translator.max_input_tokens + 1))
    with pytest.raises(TranslatorError, match=r"pair 1: the target is \d+ tokens long; the limit is max_input_tokens"):
        align(translator, ["red dog"], [long])
    with pytest.raises(TranslatorError, match="out of range: the model has 2 decoder layers"):
        align(translator, ["red dog"], ["dog red"], layer=5)
    with pytest.raises(TranslatorError, match="method must be one of"):
        align(translator, ["red dog"], ["dog red"], method="viterbi")
    with pytest.raises(TranslatorError, match="method must be one of"):  # before any adaptation
        align(translator, ["red dog"], ["dog red"], method="viterbi", adapt_steps=10**6)
    assert align(translator, [], []) == []


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_align_and_aer(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tiny_bundle: Path,
    tmp_path: Path,
    pairs: tuple[list[str], list[str]],
) -> None:
    src, tgt = pairs
    (tmp_path / "s").write_text("".join(s + " \n" for s in src))  # trailing spaces, as in the Hansards files
    (tmp_path / "t").write_text("".join(t + "\n" for t in tgt))
    gold = [f"{k + 1} {i + 1} {len(s.split()) - i} S" for k, s in enumerate(src) for i in range(len(s.split()))]
    (tmp_path / "gold").write_text("\n".join(gold) + "\n")
    model = ["--model", str(tiny_bundle), "--engine", "torch", "--threads", "1"]
    code, out, err = run(capsys, "align", "--src", str(tmp_path / "s"), "--tgt", str(tmp_path / "t"),
                         "--out", str(tmp_path / "hyp"), *model)  # fmt: skip
    assert code == 0 and out == "", err
    hyp = (tmp_path / "hyp").read_text().splitlines()
    assert len(hyp) == len(src) and all(hyp)
    code, out, err = run(capsys, "aer", "--gold", str(tmp_path / "gold"), "--hyp", str(tmp_path / "hyp"),
                         "--src", str(tmp_path / "s"), "--tgt", str(tmp_path / "t"))  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert set(result) >= {"precision", "recall", "aer"} and result["aer"] < 0.15

    code, out, _ = run(capsys, "align", "--src", str(tmp_path / "s"), "--format", "json", "--method", "t2s",
                       "--layer", "mean", "--beam", "1", *model)  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(src) and sum(r["target"] == t for r, t in zip(rows, tgt, strict=True)) >= 0.8 * len(src)
    assert rows[0]["pharaoh"] and rows[0]["links"][0][2] > 0 and rows[0]["source_words"] == src[0].split()

    (tmp_path / "short").write_text("red dog\n")
    code, out, err = run(capsys, "align", "--src", str(tmp_path / "s"), "--tgt", str(tmp_path / "short"), *model)
    assert code == 2 and out == "" and f"has {len(src)} lines but" in err and "Traceback" not in err
    (tmp_path / "blank").write_text("red dog\n\n")
    (tmp_path / "blank_t").write_text("dog red\ncat\n")
    code, _, err = run(capsys, "align", "--src", str(tmp_path / "blank"), "--tgt", str(tmp_path / "blank_t"), *model)
    assert code == 2 and "pair 2: the source is empty" in err
    code, _, err = run(capsys, "align", "--src", str(tmp_path / "s"), "--max-input-tokens", "2", *model)
    assert code == 2 and "max_input_tokens=2" in err
    # adaptation: bad pairs are refused before any training
    import translator.adapt

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("adapt() ran on pairs that should have been refused")

    monkeypatch.setattr(translator.adapt, "adapt", no_training)
    adapt = ["--adapt-steps", "100000"]
    code, _, err = run(capsys, "align", "--src", str(tmp_path / "s"), *adapt, *model)
    assert code == 2 and "--adapt-steps needs --tgt" in err
    for case, message in (
        (["--src", str(tmp_path / "blank"), "--tgt", str(tmp_path / "blank_t")], "pair 2: the source is empty"),
        (["--src", str(tmp_path / "s"), "--tgt", str(tmp_path / "t"), "--max-input-tokens", "2"], "max_input_tokens=2"),
    ):
        code, _, err = run(capsys, "align", *case, *adapt, *model)
        assert code == 2 and message in err and "Traceback" not in err, err
    monkeypatch.undo()
    code, _, err = run(capsys, "align", "--src", str(tmp_path / "s"), "--layer", "top", *model)
    assert code == 2 and "--layer" in err
    (tmp_path / "bad_gold").write_text("1 1 1 S\n1 9 1 S\n")
    code, _, err = run(capsys, "aer", "--gold", str(tmp_path / "bad_gold"), "--hyp", str(tmp_path / "hyp"),
                       "--src", str(tmp_path / "s"), "--tgt", str(tmp_path / "t"))  # fmt: skip
    assert code == 2 and "bad_gold line 2" in err and "link 9-1 is out of range" in err


@pytest.mark.skipif(not HANSARDS.is_dir(), reason="the Hansards gold alignments are not available")
def test_hansards_gold_is_read_in_range() -> None:
    src, tgt = HANSARDS / "dev.en", HANSARDS / "dev.fr"
    n_src = [len(line.split()) for line in src.read_text(encoding="utf-8").splitlines()]
    n_tgt = [len(line.split()) for line in tgt.read_text(encoding="utf-8").splitlines()]
    gold = read_gold(HANSARDS / "dev.wa.nonullalign", source_lengths=n_src, target_lengths=n_tgt)
    assert len(gold.sure) == len(n_src) and sum(map(len, gold.sure)) > 0
    assert all(s <= p for s, p in zip(gold.sure, gold.possible, strict=True))


@pytest.mark.skipif(not HANSARDS.is_dir(), reason="the Hansards gold alignments are not available")
def test_hansards_diagonal_baseline_aer(tmp_path: Path) -> None:
    """A model-free sanity check of the scorer on the real gold: the length-scaled diagonal."""
    src, tgt = HANSARDS / "dev.en", HANSARDS / "dev.fr"
    lines = []
    for s, t in zip(src.read_text().splitlines(), tgt.read_text().splitlines(), strict=True):
        ns, nt = len(s.split()), len(t.split())
        lines.append(" ".join(f"{i}-{min(nt - 1, round(i * nt / ns))}" for i in range(ns)))
    (tmp_path / "diag").write_text("\n".join(lines) + "\n")
    result = evaluate_files(HANSARDS / "dev.wa.nonullalign", tmp_path / "diag", src, tgt)
    assert 0.0 < result["aer"] < 1.0 and result["sentences"] == len(lines)
