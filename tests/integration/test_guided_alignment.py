"""Guided alignment: a head trained on word links aligns like them; bad alignment files are named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES, reverse_task

from training.config import load_train_config
from training.guided_alignment import alignment_loss, alignment_targets, piece_links
from training.trainer import train
from translator.align import align
from translator.errors import TranslatorError
from translator.inference import Translator


def reverse_links(src: str) -> str:
    n = len(src.split())
    return " ".join(f"{i}-{n - 1 - i}" for i in range(n))


def test_piece_links_follow_words() -> None:
    # "▁un" "believ" "able" = one source word; target "▁a" "▁b"
    links = piece_links(["▁un", "believ", "able", "▁x"], ["▁a", "▁b", "c"], 2, 2, [(0, 1), (1, 0)])
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
