"""Mixed-precision choice, up to the device boundary."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training import trainer
from training.config import load_train_config
from training.trainer import autocast_dtype, inverse_sqrt, label_smoothed_loss, linear_decay, lr_factor
from translator.errors import TranslatorError


def test_autocast_dtype_per_device() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("fp16", cuda) is torch.float16
    with pytest.raises(TranslatorError, match="fp16 needs a CUDA device"):
        autocast_dtype("fp16", cpu)


@pytest.mark.parametrize("fast", [True, False])
def test_auto_picks_bf16_only_on_a_cpu_that_computes_it_fast(
    fast: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(trainer, "cpu_has_fast_bf16", lambda: fast)
    cpu = torch.device("cpu")
    assert autocast_dtype("auto", cpu) is (torch.bfloat16 if fast else None)
    assert not caplog.records
    assert autocast_dtype("bf16", cpu) is torch.bfloat16  # asked for explicitly: honoured, but warned
    assert [r.levelname for r in caplog.records] == ([] if fast else ["WARNING"])
    assert fast or "no AVX-512 or AMX bf16" in caplog.text


def test_fast_bf16_probe_agrees_with_the_cpu_flags() -> None:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if not flags:
        pytest.skip("no /proc/cpuinfo")
    words = set(flags.split())
    if "avx512_bf16" in words or "amx_bf16" in words:
        assert trainer.cpu_has_fast_bf16()
    elif "avx512f" not in words:
        assert not trainer.cpu_has_fast_bf16()


def test_inverse_sqrt_schedule() -> None:
    f = inverse_sqrt(100)
    assert f(50) == pytest.approx(0.5)
    assert f(100) == pytest.approx(1.0)
    assert f(400) == pytest.approx(0.5)


def test_linear_decay_schedule() -> None:
    f = linear_decay(100, 500)
    assert f(50) == pytest.approx(0.5)
    assert f(100) == pytest.approx(1.0)
    assert f(300) == pytest.approx(0.5)
    assert f(500) == 0.0
    assert f(600) == 0.0  # past decay_steps (a raised max_steps) the rate stays at 0, never negative


def test_preset_schedule_is_the_one_trained_with() -> None:
    # The shipped model's run: linear to 0 at its last step; the inverse square root never reaches 0.
    cfg = load_train_config("multi30k")
    f = lr_factor(cfg)
    assert f(cfg.warmup_steps) == pytest.approx(1.0)
    assert cfg.decay_steps == cfg.max_steps and f(cfg.max_steps) == 0.0
    assert lr_factor(load_train_config("multi30k", ["lr_schedule=inverse_sqrt"]))(10**6) > 0.0


def test_label_smoothed_loss_ignores_padding() -> None:
    logits = torch.randn(2, 3, 10)
    target = torch.tensor([[4, 5, 0], [6, 0, 0]])
    loss, n = label_smoothed_loss(logits, target, 0.1, pad=0)
    assert n == 3
    other = logits.clone()
    other[0, 2] = 100.0  # a padded position
    assert torch.allclose(label_smoothed_loss(other, target, 0.1, pad=0)[0], loss)
