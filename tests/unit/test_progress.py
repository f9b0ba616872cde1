"""Progress bars stay readable when stderr is a file."""

from __future__ import annotations

import io

import pytest

from translator.progress import progress_bar


def test_redirected_progress_is_whole_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    bar = progress_bar(total=3, desc="job", unit="sent", log_interval=0.0)
    for _ in range(3):
        bar.update(1)
    bar.close()
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) >= 2 and lines[-1].startswith("job: 100%") and "3/3" in lines[-1]


def test_quiet_progress_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    bar = progress_bar(total=3, disable=True)
    bar.update(3)
    bar.close()
    assert log.getvalue() == ""
