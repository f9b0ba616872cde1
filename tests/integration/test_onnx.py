"""ONNX export and the ONNX Runtime engine against the PyTorch engine, on a tiny bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from translator.bundle import load_bundle, read_manifest, verify
from translator.cli import main
from translator.config import DecodeConfig
from translator.engines import make_engine
from translator.errors import TranslatorError
from translator.inference import Translator
from translator.onnx_export import graphs_of, run_export
from translator.ort_engine import OrtEngine, OrtOptions
from translator.search import search
from translator.torch_engine import TorchEngine

pytestmark = pytest.mark.integration

ONE_THREAD = OrtOptions(intra_op_threads=1)


@pytest.fixture(scope="module")
def onnx_bundle(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny bundle with all three ONNX variants exported."""
    out = tmp_path_factory.mktemp("onnx") / "model"
    shutil.copytree(tiny_bundle, out)
    run_export(out, "fp32,int8,fp16")
    return out


@pytest.fixture(scope="module")
def sources(onnx_bundle: Path) -> list[list[int]]:
    from helpers import reverse_task

    model, tok, _ = load_bundle(onnx_bundle)
    src, _ = reverse_task(30, seed=11)
    return [[*tok.encode(s), model.cfg.eos_id] for s in src]


@pytest.fixture(scope="module")
def torch_engine(onnx_bundle: Path) -> TorchEngine:
    model, _, _ = load_bundle(onnx_bundle)
    return TorchEngine(model)


def ort(bundle: Path, variant: str = "fp32", options: OrtOptions = ONE_THREAD) -> OrtEngine:
    return OrtEngine(bundle, variant=variant, device="cpu", options=options)


def test_export_writes_checked_graphs_and_manifest(onnx_bundle: Path) -> None:
    manifest = read_manifest(onnx_bundle)
    verify(onnx_bundle, manifest)
    assert manifest["variants"] == ["fp32", "int8", "fp16"]
    assert manifest["onnx"]["opset"] >= 17
    for variant in ("fp32", "int8", "fp16"):
        for graph in graphs_of(variant):
            rel = f"onnx/{variant}/{graph}"
            assert rel in manifest["files"]
            onnx.checker.check_model(str(onnx_bundle / rel), full_check=True)
    assert not list((onnx_bundle / "onnx").glob(".*")), "no temporary folder left behind"

    enc = onnx.load(str(onnx_bundle / "onnx/fp32/encoder.onnx"))
    assert [o.name for o in enc.graph.output] == ["src_mask", "cross_k_0", "cross_v_0", "cross_k_1", "cross_v_1"]
    dec = onnx.load(str(onnx_bundle / "onnx/fp32/decoder.onnx"))
    names = [i.name for i in dec.graph.input]
    assert names[:4] == ["tokens", "top_k", "beam_index", "src_mask"] and "past_k_1" in names and "cross_v_1" in names
    outputs = [o.name for o in dec.graph.output]
    assert outputs[:3] == ["top_log_probs", "top_ids", "eos_log_probs"] and outputs[-2] == "present_v_1"
    assert manifest["onnx"]["key_layout"] == "nh-hs-t"
    assert outputs[-1] == "cross_attn"

    e16 = OrtEngine(onnx_bundle, variant="fp16", device="cpu", options=ONE_THREAD)
    types = {i.name: i.type for i in e16.decoder.get_inputs()}
    outs = {o.name: o.type for o in e16.decoder.get_outputs()}
    assert types["past_k_0"] == "tensor(float16)" and outs["top_log_probs"] == "tensor(float)"
    assert outs["top_ids"] == "tensor(int64)"


@pytest.mark.parametrize("beam", [1, 4])
def test_fp32_gives_the_same_tokens_as_torch(
    onnx_bundle: Path, sources: list[list[int]], torch_engine: TorchEngine, beam: int
) -> None:
    cfg = DecodeConfig(beam_size=beam, n_best=min(beam, 2))
    ref = search(torch_engine, sources, cfg)
    for options in (ONE_THREAD, OrtOptions(intra_op_threads=1, io_binding=True)):  # io_binding: the CUDA code path
        got = search(ort(onnx_bundle, options=options), sources, cfg)
        assert [[h.tokens for h in hs] for hs in got] == [[h.tokens for h in hs] for hs in ref]
        for hs_got, hs_ref in zip(got, ref, strict=True):
            for a, b in zip(hs_got, hs_ref, strict=True):
                assert abs(a.log_prob - b.log_prob) < 1e-3


def test_step_log_probs_match_within_1e_4(
    onnx_bundle: Path, sources: list[list[int]], torch_engine: TorchEngine
) -> None:
    engine = ort(onnx_bundle)
    batch = sources[:8]
    ts, os_ = torch_engine.encode(batch), engine.encode(batch)
    index = torch.tensor([0, 0, 1, 3, 5, 7])  # duplicate and drop rows, as beam search does
    ts, os_ = torch_engine.reorder(ts, index), engine.reorder(os_, index)
    tokens = torch.full((6,), torch_engine.bos_id)
    vocab = engine.vocab_size
    for step in range(6):
        top_t, ts = torch_engine.decode_step(ts, tokens, vocab, False)  # every token, sorted
        top_o, os_ = engine.decode_step(os_, tokens, vocab, False)
        assert top_o.log_probs.dtype == torch.float32 and top_o.log_probs.shape == top_t.log_probs.shape
        lt = torch.empty_like(top_t.log_probs).scatter_(1, top_t.ids, top_t.log_probs)
        lo = torch.empty_like(top_o.log_probs).scatter_(1, top_o.ids, top_o.log_probs)
        assert float((lo - lt).abs().max()) < 1e-4
        assert bool((top_o.log_probs[:, :-1] >= top_o.log_probs[:, 1:]).all()), "best first"
        assert float((top_o.eos_log_probs - lt[:, engine.eos_id]).abs().max()) < 1e-4
        small, _ = engine.decode_step(engine.reorder(os_, torch.arange(len(tokens))), tokens, 3, False)
        assert small.ids.shape == (len(tokens), 3)
        tokens = lt.argmax(-1)
        if step == 2:
            keep = torch.tensor([5, 1, 2])
            ts, os_, tokens = torch_engine.reorder(ts, keep), engine.reorder(os_, keep), tokens[keep]


def test_int8_and_fp16_run_and_mostly_match(
    onnx_bundle: Path, sources: list[list[int]], torch_engine: TorchEngine
) -> None:
    cfg = DecodeConfig(beam_size=1)
    ref = [hs[0].tokens for hs in search(torch_engine, sources, cfg)]
    for variant in ("int8", "fp16"):
        got = [hs[0].tokens for hs in search(ort(onnx_bundle, variant), sources, cfg)]
        same = sum(a == b for a, b in zip(got, ref, strict=True))
        assert same >= 0.8 * len(ref), f"{variant}: {same}/{len(ref)} identical"


def test_int8_rows_make_a_translation_independent_of_its_batch(
    onnx_bundle: Path, sources: list[list[int]], tmp_path: Path
) -> None:
    rows = tmp_path / "model"
    shutil.copytree(onnx_bundle, rows)
    run_export(rows, "int8", int8_rows=True)
    assert read_manifest(rows)["onnx"]["variants"]["int8"]["int8_activations"] == "per-row"
    graph = onnx.load(str(rows / "onnx/int8/decoder.onnx"))
    assert not [n for n in graph.graph.node if n.op_type == "DynamicQuantizeLinear"]  # no one scale per tensor
    cfg = DecodeConfig(beam_size=3)
    for bundle, invariant in ((rows, True), (onnx_bundle, False)):
        engine = ort(bundle, "int8")
        together = [hs[0] for hs in search(engine, sources, cfg)]
        alone = [search(engine, [s], cfg)[0][0] for s in sources]
        gaps = [abs(a.log_prob - b.log_prob) for a, b in zip(together, alone, strict=True)]
        if invariant:
            assert [h.tokens for h in together] == [h.tokens for h in alone]
            assert max(gaps) < 1e-4
        else:  # one scale per tensor: what else is in the batch changes the scores
            assert max(gaps) > 1e-3
    # near fp32, as one scale per tensor is (symmetric rows lose a little on this tiny model, and gain a
    # little on the default one; ONNX Runtime's own fusion of row scales put them 7x further off)
    fp32, per_tensor, per_row = (ort(b, v) for b, v in ((onnx_bundle, "fp32"), (onnx_bundle, "int8"), (rows, "int8")))
    batch = [s + [0] * (max(map(len, sources)) - len(s)) for s in sources]
    src = np.array(batch, dtype=np.int64)

    def encoder_error(engine: OrtEngine) -> float:
        ref, out = fp32.encoder.run(None, {"src": src}), engine.encoder.run(None, {"src": src})
        pairs = [(a, b) for a, b in zip(ref, out, strict=True) if a.dtype == np.float32]  # cross keys and values
        return float(np.mean([np.abs(a - b).mean() / np.abs(a).mean() for a, b in pairs]))

    assert encoder_error(per_row) < 2.5 * encoder_error(per_tensor)


def test_attention_matches_torch(onnx_bundle: Path) -> None:
    texts = ["red dog runs", "the big cat sits on a man"]
    ref = Translator(onnx_bundle, engine="torch", device="cpu").translate(texts, beam_size=3, return_attention=True)
    onnx_tr = Translator(onnx_bundle, engine="onnx", device="cpu", threads=1, variant="fp32")
    assert isinstance(onnx_tr.engine, OrtEngine)
    plain = onnx_tr.translate(texts, beam_size=3)
    assert all(h.attention is None for r in plain for h in r.hypotheses)
    got = onnx_tr.translate(texts, beam_size=3, return_attention=True)
    for r, g, p in zip(ref, got, plain, strict=True):
        assert g.text == r.text == p.text
        ga, ra = g.hypotheses[0].attention, r.hypotheses[0].attention
        assert ga is not None and ra is not None and ga.shape == ra.shape
        torch.testing.assert_close(ga, ra, atol=1e-5, rtol=1e-4)
    [half] = Translator(onnx_bundle, engine="onnx", device="cpu", variant="fp16").translate(
        texts[:1], return_attention=True
    )
    assert half.hypotheses[0].attention is not None and half.hypotheses[0].attention.dtype == torch.float32


def test_engine_choice(onnx_bundle: Path, tiny_bundle: Path) -> None:
    assert Translator(onnx_bundle, device="cpu").engine.name == "onnx"  # type: ignore[attr-defined]
    assert Translator(tiny_bundle, device="cpu").engine.name == "torch"  # type: ignore[attr-defined]
    with pytest.raises(TranslatorError, match="has no ONNX graphs"):
        make_engine("onnx", tiny_bundle, "cpu")
    with pytest.raises(TranslatorError, match="engine must be one of"):
        make_engine("tensorrt", onnx_bundle, "cpu")
    with pytest.raises(TranslatorError, match="needs the onnx engine"):
        make_engine("torch", onnx_bundle, "cpu", variant="int8")


def test_threads_stop_spinning_when_a_run_ends(onnx_bundle: Path) -> None:
    engine = ort(onnx_bundle, options=OrtOptions(intra_op_threads=2))
    for session in (engine.encoder, engine.decoder):
        assert session.get_session_options().get_session_config_entry("session.force_spinning_stop") == "1"


def test_corrupt_or_missing_graph_is_named(onnx_bundle: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(onnx_bundle, broken)
    (broken / "onnx/fp32/decoder.onnx").write_bytes(b"garbage")
    with pytest.raises(TranslatorError, match=r"onnx/fp32/decoder\.onnx does not match its manifest"):
        ort(broken)
    ort(broken, "int8")  # other variants are unaffected
    (broken / "onnx/int8/encoder.onnx").unlink()
    with pytest.raises(TranslatorError, match=r"onnx/int8/encoder\.onnx is listed in the manifest but missing"):
        ort(broken, "int8")


def test_graphs_of_an_older_export_are_refused(onnx_bundle: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(onnx_bundle, old)
    manifest = json.loads((old / "manifest.json").read_text())
    for older in ({"key_layout": None}, {"graph_format": 2}):
        onnx_info = {k: v for k, v in manifest["onnx"].items() if k not in older}
        onnx_info |= {k: v for k, v in older.items() if v is not None}
        (old / "manifest.json").write_text(json.dumps({**manifest, "onnx": onnx_info}))
        with pytest.raises(TranslatorError, match=r"exported by an older version.*translator export --model"):
            ort(old)


def test_reorder_moves_source_tensors_only_when_sources_change(onnx_bundle: Path, sources: list[list[int]]) -> None:
    engine = ort(onnx_bundle)
    encoded = engine.encode(sources[:3])
    state = engine.reorder(encoded, torch.tensor([0, 0, 1, 1, 2, 2]))  # 2 beams each
    assert state.feeds["cross_k_0"] is encoded.feeds["cross_k_0"], "one row per sentence, shared by its beams"
    _, state = engine.decode_step(state, torch.full((6,), engine.bos_id), 4, False)
    shuffled = engine.reorder(state, torch.tensor([1, 0, 2, 2, 5, 4]))  # beams move within their sentence
    assert shuffled.feeds["cross_k_0"] is state.feeds["cross_k_0"]
    assert shuffled.feeds["past_k_0"] is state.feeds["past_k_0"], "the next decoder step gathers the cache"
    assert shuffled.order is not None and list(shuffled.order) == [1, 0, 2, 2, 5, 4]
    dropped = engine.reorder(state, torch.tensor([0, 1, 4, 5]))  # sentence 1 finished
    assert dropped.feeds["cross_k_0"].shape[0] == 2
    assert np.array_equal(dropped.feeds["cross_k_0"][1], state.feeds["cross_k_0"][2])
    assert list(dropped.sources) == [0, 0, 2, 2]
    uneven = engine.reorder(state, torch.tensor([0, 1, 2]))  # 2 rows of sentence 0, 1 of sentence 1
    assert list(uneven.sources) == [0, 0, 1] and uneven.feeds["cross_k_0"].shape[0] == 3  # a row per hypothesis
    np.testing.assert_array_equal(uneven.feeds["cross_k_0"][1], state.feeds["cross_k_0"][0])
    step, _ = engine.decode_step(uneven, torch.full((3,), engine.bos_id), 4, False)
    full, _ = engine.decode_step(state, torch.full((6,), engine.bos_id), 4, False)
    np.testing.assert_allclose(step.log_probs.numpy(), full.log_probs[:3].numpy(), atol=1e-5)


def test_export_errors(tiny_bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(TranslatorError, match="model directory not found"):
        run_export(tmp_path / "none", "fp32")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle, broken)
    with pytest.raises(TranslatorError, match="unknown ONNX variant 'int4'"):
        run_export(broken, "fp32,int4")
    (broken / "weights.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TranslatorError, match=r"weights\.pt does not match its manifest"):
        run_export(broken, "fp32")
    (broken / "manifest.json").unlink()
    with pytest.raises(TranslatorError, match=r"manifest\.json is missing"):
        run_export(broken, "fp32")


def test_cuda_request_fails_cleanly(onnx_bundle: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from translator.ort_engine import cuda_status

    if cuda_status()[0]:
        pytest.skip("CUDA works on this machine")
    capfd.readouterr()
    with pytest.raises(TranslatorError, match="device=cuda was requested but ONNX Runtime cannot use CUDA"):
        OrtEngine(onnx_bundle, device="cuda")
    code = main(["translate", "--model", str(onnx_bundle), "--engine", "onnx", "--device", "cuda", "red dog"])
    out, err = capfd.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("error: device=cuda was requested") and err.count("\n") == 1, err


def test_cli_export_and_translate(tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "model"
    shutil.copytree(tiny_bundle, bundle)
    assert main(["export", "--model", str(bundle), "--variants", "fp32"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["variants"] == ["fp32"] and summary["files"] == ["onnx/fp32/encoder.onnx", "onnx/fp32/decoder.onnx"]
    code = main(["translate", "--model", str(bundle), "--engine", "onnx", "--threads", "1", "red dog runs"])
    out, _ = capsys.readouterr()
    assert code == 0 and out == "runs dog red\n"
    code = main(["translate", "--model", str(bundle), "--variant", "int8", "--beam", "1", "big cat"])
    _, err = capsys.readouterr()
    assert code == 2 and "no int8 ONNX graphs" in err and "--variants int8" in err


def test_an_export_removes_work_dirs_of_a_killed_export(
    tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import translator.onnx_export as onnx_export

    bundle = tmp_path / "b"
    shutil.copytree(tiny_bundle, bundle)
    stale = bundle / "onnx" / ".export-killed"
    (stale / "traced").mkdir(parents=True)

    def boom(*args: object) -> None:
        raise TranslatorError("stop here")

    monkeypatch.setattr(onnx_export, "_export_traced", boom)
    with pytest.raises(TranslatorError, match="stop here"):
        run_export(bundle, "fp32")
    assert not list((bundle / "onnx").glob(".export-*"))
