"""Provider choice of the ONNX Runtime engine, up to the device boundary (CUDA is faked)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from translator import ort_engine
from translator.errors import TranslatorError
from translator.ort_engine import CPU, CUDA, OrtOptions, choose_providers, cuda_status


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    cuda_status.cache_clear()
    yield
    cuda_status.cache_clear()


def fake(
    monkeypatch: pytest.MonkeyPatch, providers: list[str], devices: int = 0, probe: tuple[bool, str] | None = None
) -> list[str]:
    calls: list[str] = []

    def count() -> int:
        calls.append("count")
        return devices

    def run_probe() -> tuple[bool, str]:
        calls.append("probe")
        assert probe is not None, "the probe must not run when the cheap checks fail"
        return probe

    monkeypatch.setattr(ort_engine, "_available_providers", lambda: providers)
    monkeypatch.setattr(ort_engine, "_cuda_device_count", count)
    monkeypatch.setattr(ort_engine, "_probe_cuda_session", run_probe)
    return calls


def test_cpu_never_looks_at_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake(monkeypatch, [CUDA, CPU], devices=1, probe=(True, ""))
    assert choose_providers("cpu") == [CPU]
    assert calls == []


def test_build_without_cuda_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake(monkeypatch, [CPU])
    assert choose_providers("auto") == [CPU]
    with pytest.raises(TranslatorError, match="no CUDA provider"):
        choose_providers("cuda")
    assert calls == []


def test_cuda_provider_listed_but_no_driver_or_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake(monkeypatch, [CUDA, CPU], devices=0)
    assert choose_providers("auto") == [CPU]
    with pytest.raises(TranslatorError, match=r"device=cuda was requested.*no CUDA device"):
        choose_providers("cuda")
    assert calls == ["count"], "checked once per process, no probe"


def test_gpu_present_but_provider_fails_to_load(monkeypatch: pytest.MonkeyPatch) -> None:
    fake(monkeypatch, [CUDA, CPU], devices=1, probe=(False, "the ONNX Runtime CUDA provider failed to load (x)"))
    assert choose_providers("auto") == [CPU]
    with pytest.raises(TranslatorError, match="provider failed to load"):
        choose_providers("cuda")


def test_working_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake(monkeypatch, [CUDA, CPU], devices=2, probe=(True, ""))
    assert choose_providers("auto") == [CUDA, CPU]
    assert choose_providers("cuda") == [CUDA, CPU]
    assert calls == ["count", "probe"]


def test_unknown_device() -> None:
    with pytest.raises(TranslatorError, match="device must be one of auto, cpu, cuda"):
        choose_providers("gpu")


def test_probe_keeps_the_child_error_output(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    def run(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        assert kwargs.get("capture_output") is True
        return subprocess.CompletedProcess([], 1, "", "spam\nspam\nlibcublasLt.so.13: cannot open shared object file\n")

    monkeypatch.setattr(subprocess, "run", run)
    ok, reason = ort_engine._probe_cuda_session()
    assert not ok and "libcublasLt.so.13" in reason
    assert capfd.readouterr() == ("", "")


def test_real_status_is_quiet(capfd: pytest.CaptureFixture[str]) -> None:
    usable, reason = cuda_status()
    assert usable or reason
    assert capfd.readouterr().err == ""


def test_session_options() -> None:
    so = OrtOptions(intra_op_threads=2, inter_op_threads=1, graph_optimization="basic", memory_arena=False)
    opts = so.session_options()
    assert opts.intra_op_num_threads == 2 and opts.inter_op_num_threads == 1
    assert not opts.enable_cpu_mem_arena
    assert opts.graph_optimization_level == ort_engine.ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    with pytest.raises(TranslatorError, match="graph_optimization must be one of"):
        OrtOptions(graph_optimization="max").session_options()
