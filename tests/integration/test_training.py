"""A tiny model trained end to end in seconds; resume after a kill equals an uninterrupted run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES, reverse_task

from training.config import load_train_config
from training.trainer import Trainer, train
from translator.inference import Translator

pytestmark = pytest.mark.integration


def test_tiny_model_learns_to_reverse(tiny_bundle: Path) -> None:
    src, tgt = reverse_task(40, seed=99)
    translator = Translator(tiny_bundle)
    for beam in (1, 4):
        out = [r.text for r in translator.translate(src, beam_size=beam)]
        exact = sum(o == t for o, t in zip(out, tgt, strict=True)) / len(src)
        assert exact >= 0.85, f"beam {beam}: only {exact:.0%} exact reversals"


def test_bundle_records_training(tiny_run: Path) -> None:
    from translator.bundle import read_manifest

    manifest = read_manifest(tiny_run / "model")
    assert manifest["training"]["steps"] == 800
    assert manifest["training"]["selected"] in {"best", "average"}
    assert (tiny_run / "log.csv").read_text().count("\n") > 5
    assert (tiny_run / "eval.csv").read_text().startswith("step,bleu,chrf")


def test_bundle_has_the_truecasing_words_of_its_corpus(tiny_run: Path, reverse_data: Path) -> None:
    import gzip

    from translator import truecase
    from translator.bundle import read_manifest

    with gzip.open(reverse_data / "train.en.gz", "rt", encoding="utf-8") as f:
        expected = truecase.lowercase_words(line.rstrip("\n") for line in f)
    assert expected  # the reverse task is lowercase: every word
    assert truecase.FILE in read_manifest(tiny_run / "model")["files"]
    assert Translator(tiny_run / "model", engine="torch").lowercase == frozenset(expected)


def _cfg(data: Path, *extra: str):  # type: ignore[no-untyped-def]
    return load_train_config(
        "tiny", [*TINY_OVERRIDES, f"data_dir={data}", "max_steps=40", "save_every=10", "eval_every=20", *extra]
    )


def _final_weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]


@pytest.mark.parametrize("extra", [[], ["spm_alpha=0.3"]], ids=["plain", "subword-sampling"])
def test_resume_after_simulated_kill_equals_uninterrupted(tmp_path: Path, reverse_data: Path, extra: list[str]) -> None:
    cfg = _cfg(reverse_data, "model.dropout=0.1", *extra)
    train(cfg, tmp_path / "a", progress=False)

    class Killed(Exception):
        pass

    trainer = Trainer(cfg, tmp_path / "b", progress=False)
    real_step = trainer.step

    def dying_step(batch, links=None):  # type: ignore[no-untyped-def]
        if trainer.state["step"] == 27:  # after the step-20 checkpoint, before the step-30 one
            raise Killed
        return real_step(batch, links)

    trainer.step = dying_step  # type: ignore[method-assign]
    with pytest.raises(Killed):
        trainer.train()
    assert torch.load(tmp_path / "b" / "checkpoints" / "last.pt", weights_only=True)["state"]["step"] == 20
    train(cfg, tmp_path / "b", progress=False)  # same command again: resumes at step 20
    a, b = _final_weights(tmp_path / "a"), _final_weights(tmp_path / "b")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    rows = (tmp_path / "b" / "log.csv").read_text().splitlines()[1:]
    steps = [int(r.split(",")[0]) for r in rows]
    assert steps == sorted(set(steps)), "a resumed run logs each step once"


CLI_SETS = ["max_steps=300", "save_every=10", "eval_every=100", "threads=1"]
CLI_ENV = {**os.environ, "PYTHONHASHSEED": "0"}


def cli_train(reverse_data: Path) -> list[str]:
    """`translator train` on the tiny config, as a user runs it (without --out)."""
    sets = [f"--set={o}" for o in [*TINY_OVERRIDES, f"data_dir={reverse_data}", *CLI_SETS]]
    return [sys.executable, "-m", "translator.cli", "train", "--config", "tiny", "--quiet", *sets]


@pytest.fixture(scope="module")
def uninterrupted(reverse_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same command run without interruption: the reference for the kill tests."""
    out = tmp_path_factory.mktemp("uninterrupted")
    subprocess.run([*cli_train(reverse_data), "--out", str(out)], check=True, env=CLI_ENV, capture_output=True)
    return out


def start_and_signal(cmd: list[str], sig: signal.Signals, started: Path) -> tuple[int, str]:
    """Start a training run, send `sig` shortly after the file `started` appears; (return code, stderr)."""
    proc = subprocess.Popen(cmd, env=CLI_ENV, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not started.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def assert_same_result(a: Path, b: Path) -> None:
    wa, wb = _final_weights(a), _final_weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a / "model" / "weights.pt").read_bytes() == (b / "model" / "weights.pt").read_bytes()


def test_sigkill_then_rerun_same_command(tmp_path: Path, reverse_data: Path, uninterrupted: Path) -> None:
    cmd = [*cli_train(reverse_data), "--out", str(tmp_path / "b")]
    code, _ = start_and_signal(cmd, signal.SIGKILL, tmp_path / "b" / "checkpoints" / "last.pt")
    assert code == -signal.SIGKILL
    state = torch.load(tmp_path / "b" / "checkpoints" / "last.pt", weights_only=True)["state"]
    assert 0 < state["step"] < 300, "killed in the middle of the run"
    subprocess.run(cmd, check=True, env=CLI_ENV, capture_output=True)
    assert_same_result(uninterrupted, tmp_path / "b")


def test_sigterm_saves_the_current_step_and_the_rerun_finishes_the_same(
    tmp_path: Path, reverse_data: Path, uninterrupted: Path
) -> None:
    # no periodic checkpoint (and the same weights: save_every and log_every do not change
    # training): only the signal handler can have saved one
    cmd = [*cli_train(reverse_data), "--set=save_every=1000", "--set=log_every=5", "--out", str(tmp_path / "b")]
    code, err = start_and_signal(cmd, signal.SIGTERM, tmp_path / "b" / "log.csv")
    assert code == 2 and "Traceback" not in err, err
    found = re.search(r"error: training interrupted by SIGTERM at step (\d+); saved .*last\.pt; run the same", err)
    assert found, err
    state = torch.load(tmp_path / "b" / "checkpoints" / "last.pt", weights_only=True)["state"]
    assert state["step"] == int(found.group(1)) and 0 < state["step"] < 300 and not state["finished"]
    subprocess.run(cmd, check=True, env=CLI_ENV, capture_output=True)
    assert_same_result(uninterrupted, tmp_path / "b")


def test_changed_config_is_refused(tmp_path: Path, reverse_data: Path) -> None:
    from translator.errors import TranslatorError

    train(_cfg(reverse_data, "max_steps=10"), tmp_path, progress=False)
    with pytest.raises(TranslatorError, match=r"different config.*lr"):
        Trainer(_cfg(reverse_data, "lr=0.1"), tmp_path, progress=False)


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    from translator.errors import TranslatorError

    with pytest.raises(TranslatorError, match="translator data"):
        Trainer(_cfg(tmp_path / "nowhere"), tmp_path / "run", progress=False)


def test_a_run_saved_before_a_config_field_existed_still_resumes(reverse_data: Path, tmp_path: Path) -> None:
    import yaml

    from training.trainer import Trainer
    from translator.errors import TranslatorError

    cfg = load_train_config("tiny", [*TINY_OVERRIDES, f"data_dir={reverse_data}", "max_steps=1"])
    saved = cfg.to_dict()
    del saved["model"]["alignment_null"]  # as written by an older version
    tmp_path.joinpath("train_config.yaml").write_text(yaml.safe_dump(saved))
    Trainer(cfg, tmp_path, progress=False)  # no "different config" error
    changed = load_train_config("tiny", [*TINY_OVERRIDES, f"data_dir={reverse_data}", "max_steps=1", "model.d_ff=96"])
    with pytest.raises(TranslatorError, match="different config"):
        Trainer(changed, tmp_path, progress=False)


def test_failed_inputs_leave_nothing_that_blocks_the_corrected_rerun(tmp_path: Path, reverse_data: Path) -> None:
    from translator.errors import TranslatorError

    run = tmp_path / "ry"
    with pytest.raises(TranslatorError, match="translator data"):
        Trainer(_cfg(tmp_path / "nonexistent"), run, progress=False)
    assert not (run / "train_config.yaml").exists()
    Trainer(_cfg(reverse_data), run, progress=False)  # no "different config" error


def test_set_values_are_type_checked_and_bad_config_files_are_clear_errors(tmp_path: Path) -> None:
    from translator.errors import TranslatorError

    with pytest.raises(TranslatorError, match=r"--set lr: expected float, got 'abc'"):
        load_train_config("tiny", ["lr=abc"])
    with pytest.raises(TranslatorError, match=r"--set max_steps: expected int, got 'abc'"):
        load_train_config("tiny", ["max_steps=abc"])
    assert load_train_config("tiny", ["lr=3e-4", "model.alignment_layer=null"]).lr == 3e-4
    png = tmp_path / "fake.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(TranslatorError, match="not UTF-8"):
        load_train_config(str(png))
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(TranslatorError, match="is a file"):
        Trainer(_cfg(tmp_path), afile, progress=False)


def test_raising_max_steps_after_a_finished_run_trains_on(tmp_path: Path, reverse_data: Path) -> None:
    train(_cfg(reverse_data, "max_steps=10", "eval_every=10"), tmp_path, progress=False)
    train(_cfg(reverse_data, "max_steps=20", "eval_every=10"), tmp_path, progress=False)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["state"]
    assert state["step"] == 20 and state["finished"]


def test_a_corrupt_checkpoint_is_a_one_line_error(tmp_path: Path) -> None:
    from training.checkpoint import load_checkpoint
    from translator.errors import TranslatorError

    for content in (b"not a zip file", b""):
        path = tmp_path / "last.pt"
        path.write_bytes(content)
        with pytest.raises(TranslatorError) as info:
            load_checkpoint(path)
        msg = str(info.value)
        assert "\n" not in msg and "weights_only" not in msg and not msg.endswith(": )")
        assert re.fullmatch(rf"{re.escape(str(path))} is not a valid checkpoint \(corrupt or truncated: .+\)", msg)
