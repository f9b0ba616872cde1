from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import TINY_OVERRIDES, write_reverse_corpus

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def reverse_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_reverse_corpus(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, reverse_data: Path) -> Path:
    """A tiny model trained for seconds on the reverse task; returns its run directory."""
    from training.config import load_train_config
    from training.trainer import train

    out = tmp_path_factory.mktemp("run")
    cfg = load_train_config("tiny", [*TINY_OVERRIDES, f"data_dir={reverse_data}", "max_steps=800", "eval_every=200"])
    train(cfg, out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run: Path) -> Path:
    return tiny_run / "model"
