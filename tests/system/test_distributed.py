"""The same trainer under torchrun: two CPU processes with DDP (gloo)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import TINY_OVERRIDES

pytestmark = pytest.mark.slow


def test_torchrun_two_processes(tmp_path: Path, reverse_data: Path) -> None:
    sets = [*TINY_OVERRIDES, f"data_dir={reverse_data}", "max_steps=40", "eval_every=20", "save_every=10", "threads=1"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "translator.cli", "train", "--config", "tiny", "--quiet", "--out", str(tmp_path),
           *[f"--set={s}" for s in sets]]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["state"]["step"] == 40
    assert (tmp_path / "model" / "manifest.json").is_file()
    losses = [float(r.split(",")[2]) for r in (tmp_path / "log.csv").read_text().splitlines()[1:]]
    assert losses[-1] < losses[0]
