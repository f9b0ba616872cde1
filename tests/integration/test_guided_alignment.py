"""Guided alignment: a head trained on word links aligns like them; bad alignment files are named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES, reverse_task

from training.config import load_train_config
from training.guided_alignment import alignment_loss, alignment_targets, piece_links
from training.trainer import train
from translator.align import align, choose_method
from translator.errors import TranslatorError
from translator.inference import Translator


def reverse_links(src: str) -> str:
    n = len(src.split())
    return " ".join(f"{i}-{n - 1 - i}" for i in range(n))


def test_piece_links_follow_words() -> None:
    # "▁un" "believ" "able" = one source word; target "▁a" "▁b"
    links = piece_links(
        ["▁un", "believ", "able", "▁x"], ["▁a", "▁b", "c"], ["unbelievable", "x"], ["a", "bc"], [(0, 1), (1, 0)]
    )
    assert sorted(links) == [(0, 3), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]


def test_alignment_targets_and_loss() -> None:
    target = alignment_targets([[(0, 1), (0, 2), (1, 0)]], tgt_len=3, src_len=3)
    assert torch.allclose(target[0, 0], torch.tensor([0.0, 0.5, 0.5]))
    assert float(target[0, 2].sum()) == 0.0  # unlinked row: not supervised
    perfect = torch.tensor([[[[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]]]])  # (1, 1 head, 3, 3)
    uniform = torch.full((1, 1, 3, 3), 1 / 3)
    assert float(alignment_loss(perfect, target, 0)) < float(alignment_loss(uniform, target, 0))
    assert float(alignment_loss(uniform, torch.zeros(1, 3, 3), None)) == 0.0


def test_guided_head_learns_the_links(reverse_data: Path, tmp_path: Path) -> None:
    src, _ = reverse_task(3000, 1)  # the training split of `reverse_data`
    (tmp_path / "train.align").write_text("".join(reverse_links(s) + "\n" for s in src))
    overrides = [*TINY_OVERRIDES, f"data_dir={reverse_data}", "max_steps=300", "eval_every=300"]
    guided = [f"alignment_file={tmp_path / 'train.align'}", "model.alignment_layer=-1", "model.alignment_head=0"]
    cfg = load_train_config("tiny", [*overrides, *guided, "alignment_weight=1.0"])
    bundle = train(cfg, tmp_path / "run", progress=False)
    tr = Translator(bundle, engine="torch", device="cpu")
    assert (tr.config.alignment_layer, tr.config.alignment_head) == (-1, 0)  # saved next to the weights
    test_src, test_tgt = reverse_task(40, 7)
    result = align(tr, test_src, test_tgt, method="t2s")  # default layer/head: the guided one
    gold = {(k, i, j) for k, s in enumerate(test_src) for i, j in (x.split("-") for x in reverse_links(s).split())}
    got = {(k, str(i), str(j)) for k, a in enumerate(result) for i, j, _ in a.links}
    assert len(got & gold) >= 0.9 * len(gold), f"{len(got & gold)}/{len(gold)} gold links found"


def test_bad_alignment_settings_are_named(reverse_data: Path, tmp_path: Path) -> None:
    base = [*TINY_OVERRIDES, f"data_dir={reverse_data}", "max_steps=1"]
    with pytest.raises(TranslatorError, match=r"alignment_file needs model\.alignment_layer"):
        load_train_config("tiny", [*base, "alignment_file=x.align"])
    with pytest.raises(TranslatorError, match="alignment_layer 5 is out of range"):
        load_train_config("tiny", [*base, "model.alignment_layer=5"])
    short = tmp_path / "short.align"
    short.write_text("0-0\n")
    cfg = load_train_config("tiny", [*base, f"alignment_file={short}", "model.alignment_layer=-1"])
    with pytest.raises(TranslatorError, match="has 1 lines but the training data has 3000"):
        train(cfg, tmp_path / "run", progress=False)
    cfg = load_train_config("tiny", [*base, "alignment_file=missing.align", "model.alignment_layer=-1"])
    with pytest.raises(TranslatorError, match="translator align-corpus"):
        train(cfg, tmp_path / "run2", progress=False)


def test_adapting_on_the_pairs_trains_a_copy(tiny_bundle: Path) -> None:
    from translator.adapt import adapt

    tr = Translator(tiny_bundle, engine="torch", device="cpu")
    src, tgt = ["red dog runs on the cat"], ["blue cat sits man"]  # a pair the model would not produce
    before = tr.engine.model.state_dict()["embed.weight"].clone()  # type: ignore[attr-defined]
    adapted = adapt(tr, src, tgt, steps=40, lr=1e-3)
    [[forced]] = [r.hypotheses for r in adapted.translate(src, beam_size=1)]
    assert forced.text == tgt[0], "after adapting on the pair the model reproduces its target"
    assert torch.equal(tr.engine.model.state_dict()["embed.weight"], before)  # type: ignore[attr-defined]
    assert tr.translate(src, beam_size=1)[0].text != tgt[0]
    with pytest.raises(TranslatorError, match="must pair up"):
        adapt(tr, src, [], steps=1)


def test_init_from_starts_at_the_bundle_and_checks_its_shape(
    tiny_bundle: Path, reverse_data: Path, tmp_path: Path
) -> None:
    from training.trainer import Trainer
    from translator.bundle import load_bundle

    base = [*TINY_OVERRIDES, f"data_dir={reverse_data}", f"init_from={tiny_bundle}", "model.dropout=0.0"]
    trainer = Trainer(load_train_config("tiny", base), tmp_path / "ok", progress=False)
    bundle, _, _ = load_bundle(tiny_bundle)
    for k, v in bundle.state_dict().items():
        assert torch.equal(trainer.model.state_dict()[k], v.float()), k
    with pytest.raises(TranslatorError, match="model shape differs"):
        Trainer(load_train_config("tiny", [*base, "model.d_ff=64"]), tmp_path / "bad", progress=False)


def test_guided_adaptation_moves_the_head_to_the_guide(tiny_bundle: Path) -> None:
    from translator.adapt import GUIDED_HEAD, GUIDED_LAYER
    from translator.align import adapted

    tr = Translator(tiny_bundle, engine="torch", device="cpu")
    pairs = [(s, t) for s, t in zip(*reverse_task(12, 11), strict=True) if len(set(s.split())) == len(s.split()) > 2]
    src, tgt = [s for s, _ in pairs], [t for _, t in pairs]
    # the model aligns the reversed words; the guide says "diagonal", on purpose, and
    # leaves the last target word unaligned (NULL)
    diagonal = [[[(i, i) for i in range(len(s.split()) - 1)]] for s in src]
    before = {(k, i, j) for k, a in enumerate(align(tr, src, tgt, method="t2s")) for i, j, _ in a.links}
    wanted = {(k, i, j) for k, runs in enumerate(diagonal) for i, j in runs[0]}
    assert len(before & wanted) < 0.5 * len(wanted)
    guided = adapted(tr, src, tgt, steps=60, guide=diagonal)
    assert (guided.config.alignment_layer, guided.config.alignment_head) == (GUIDED_LAYER, GUIDED_HEAD)
    assert guided.config.alignment_full_context  # Garg et al.'s full-context pass, the default
    assert tr.config.alignment_layer is None  # the original is untouched
    after = align(guided, src, tgt, method="t2s")  # reads the supervised head
    got = {(k, i, j) for k, a in enumerate(after) for i, j, _ in a.links}
    assert len(got & wanted) >= 0.9 * len(wanted), f"{len(got & wanted)}/{len(wanted)} guide links followed"
    assert guided.config.alignment_null
    last = {(k, len(t.split()) - 1) for k, t in enumerate(tgt)}
    assert len({(k, j) for k, _, j in got} & last) <= 0.1 * len(last), "NULL-aligned words got links"
    # the same through align(): adapt + guide in one call
    direct = align(tr, src, tgt, method="t2s", adapt_steps=60, guide=diagonal)
    assert [a.links for a in direct] == [a.links for a in after]
    # the gold-free method choice: the candidate that agrees best with the guide runs
    # (threshold 0 links every word pair; t2s follows the guide)
    choice = choose_method(guided, src, tgt, diagonal, candidates=[("threshold", 0.0), ("t2s", None)])
    assert (choice.method, choice.threshold, choice.name) == ("t2s", None, "t2s")
    assert [c[:2] for c in choice.candidates] == [("threshold", 0.0), ("t2s", None)]
    assert choice.agreement_aer == min(c[2] for c in choice.candidates) < 0.1 < choice.candidates[0][2]
    with pytest.raises(TranslatorError, match="at least one candidate"):
        choose_method(guided, src, tgt, diagonal, candidates=[])
    with pytest.raises(TranslatorError, match=f"got 1 sets of aligner links for {len(src)} pairs"):
        choose_method(guided, src, tgt, diagonal[:1])


def test_bad_guides_are_refused(tiny_bundle: Path) -> None:
    tr = Translator(tiny_bundle, engine="torch", device="cpu")
    src, tgt = ["red dog runs"], ["runs dog red"]
    with pytest.raises(TranslatorError, match="need targets and adapt_steps"):
        align(tr, src, tgt, guide=[[[(0, 0)]]])
    with pytest.raises(TranslatorError, match=r"guide link 3-0 is out of range"):
        align(tr, src, tgt, adapt_steps=1, guide=[[[(3, 0)]]])
    with pytest.raises(TranslatorError, match="2 sets of guide links for 1 pairs"):
        align(tr, src, tgt, adapt_steps=1, guide=[[[(0, 0)]], [[(0, 0)]]])


def test_full_context_pass_sees_the_whole_target_but_not_its_padding(tiny_bundle: Path) -> None:
    model = Translator(tiny_bundle, engine="torch", device="cpu").engine.model  # type: ignore[attr-defined]
    src = torch.tensor([[5, 6, 7, 3]])
    tgt = torch.tensor([[2, 7, 6, 5]])
    changed_last = torch.tensor([[2, 7, 6, 9]])
    with torch.inference_mode():
        causal, _ = model(src, tgt)
        full, attn = model(src, tgt, need_weights=True, causal=False)
        full_changed, _ = model(src, changed_last, causal=False)
        padded, _ = model(src, torch.tensor([[2, 7, 6, 5, 0, 0]]), causal=False)
    assert torch.allclose(causal[0, 0], model(src, changed_last)[0][0, 0], atol=1e-5)  # causal: no peeking
    assert not torch.allclose(full[0, 0], full_changed[0, 0], atol=1e-4)  # full context: row 0 sees token 3
    assert torch.allclose(full, padded[:, :4], atol=1e-5)  # target padding is masked
    assert len(attn) == model.cfg.decoder_layers and torch.allclose(attn[0].sum(-1), torch.ones(1), atol=1e-5)
