"""`translator translate --backend ray`: Ray actors on a local Ray instance give the local output.

Needs the `ray` extra (`pip install -e '.[ray]'`); skipped without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from translator.cli import main

ray: Any = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def test_ray_backend_matches_local(local_ray: None, tiny_bundle: Path, tmp_path: Path) -> None:
    from helpers import reverse_task

    src, _ = reverse_task(600, seed=21)
    texts = ["" if n % 50 == 7 else s for n, s in enumerate(src)]
    inp = tmp_path / "in.txt.gz"
    import gzip

    inp.write_bytes(gzip.compress("".join(t + "\n" for t in texts).encode()))
    base = ["translate", "--model", str(tiny_bundle), "-i", str(inp), "--window", "50", "--beam", "2", "--quiet"]
    assert main([*base, "-o", str(tmp_path / "local.txt"), "--threads", "1"]) == 0
    assert main([*base, "-o", str(tmp_path / "ray.txt"), "--backend", "ray", "--workers", "2"]) == 0
    local = (tmp_path / "local.txt").read_bytes()
    assert (tmp_path / "ray.txt").read_bytes() == local
    assert len(local.split(b"\n")) == 601
    assert not (tmp_path / "ray.txt.job").exists()
