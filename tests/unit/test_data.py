"""Unit tests for training.data (Multi30k fetching and verification)."""

from __future__ import annotations

import gzip
import hashlib
import urllib.error
from pathlib import Path

import pytest

from training import data
from training.data import (
    SPLITS,
    fetch_multi30k,
    main,
    read_lines,
    read_parallel,
    split_paths,
)
from translator.errors import TranslatorError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "multi30k"
COUNTS = {"train": 3, "val": 2}


def _write_gz(path: Path, payload: bytes) -> None:
    path.write_bytes(gzip.compress(payload, mtime=0))


def _make_source(root: Path) -> tuple[Path, dict[str, str]]:
    """Create a tiny synthetic corpus; return its dir and the SHA-256 of each file."""
    src = root / "src"
    src.mkdir()
    for split, n in COUNTS.items():
        en, fr = split_paths(src, split)
        _write_gz(en, "".join(f"{split} sentence {i}\n" for i in range(n)).encode())
        _write_gz(fr, "".join(f"{split} phrase n°{i}\n" for i in range(n)).encode())
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.iterdir()}
    return src, sums


def _snapshot(directory: Path) -> dict[str, bytes]:
    if not directory.exists():
        return {}
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_splits_and_paths(tmp_path: Path) -> None:
    assert SPLITS == ("train", "val", "test_2016_flickr", "test_2017_flickr")
    assert split_paths(tmp_path, "val") == (tmp_path / "val.en.gz", tmp_path / "val.fr.gz")


def test_read_lines_plain_and_gz(tmp_path: Path) -> None:
    plain = tmp_path / "a.txt"
    plain.write_bytes("héllo  \r\nworld\n\nlast".encode())
    expected = ["héllo  ", "world", "", "last"]
    assert read_lines(plain) == expected
    gz = tmp_path / "a.txt.gz"
    _write_gz(gz, plain.read_bytes() + b"\n")
    assert read_lines(gz) == expected
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert read_lines(empty) == []


def test_read_lines_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.en.gz"
    _write_gz(bad, b"ok\nfine\nbro\xffken\n")
    with pytest.raises(TranslatorError, match=r"bad\.en\.gz.*line 3"):
        read_lines(bad)


def test_read_lines_missing_and_corrupt_gz(tmp_path: Path) -> None:
    with pytest.raises(TranslatorError, match=r"nope\.txt"):
        read_lines(tmp_path / "nope.txt")
    corrupt = tmp_path / "x.gz"
    corrupt.write_bytes(b"not gzip at all")
    with pytest.raises(TranslatorError, match="gzip"):
        read_lines(corrupt)


def test_read_parallel_mismatch(tmp_path: Path) -> None:
    en, fr = tmp_path / "x.en", tmp_path / "x.fr"
    en.write_text("a\nb\nc\n", encoding="utf-8")
    fr.write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(TranslatorError, match=r"x\.en has 3.*x\.fr has 2"):
        read_parallel(en, fr)
    fr.write_text("a\nb\nc\n", encoding="utf-8")
    assert read_parallel(en, fr) == (["a", "b", "c"], ["a", "b", "c"])


def test_fetch_from_dir_and_idempotent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src, sums = _make_source(tmp_path)
    out = tmp_path / "out"
    assert fetch_multi30k(out, src, expected_counts=COUNTS, expected_sha256=sums) == out
    assert _snapshot(out) == _snapshot(src)  # bytes copied as is, no temp files left
    en, fr = read_parallel(*split_paths(out, "train"))
    assert len(en) == len(fr) == 3
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    caplog.set_level("INFO", logger="training.data")
    gone = tmp_path / "does-not-exist"
    fetch_multi30k(out, gone, expected_counts=COUNTS, expected_sha256=sums)
    assert "up to date" in caplog.text
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_line_count_mismatch(tmp_path: Path) -> None:
    src, _ = _make_source(tmp_path)
    _write_gz(src / "val.fr.gz", b"only one line\n")
    out = tmp_path / "out"
    with pytest.raises(TranslatorError, match=r"val\.en\.gz has 2 lines.*val\.fr\.gz has 1"):
        fetch_multi30k(out, src, verify_checksum=False, expected_counts=COUNTS)
    assert not out.exists()
    with pytest.raises(TranslatorError, match=r"train\.fr\.gz: expected 4 lines, found 3"):
        fetch_multi30k(out, src, verify_checksum=False, expected_counts={"train": 4})
    assert not out.exists()


def test_invalid_utf8_in_source(tmp_path: Path) -> None:
    src, _ = _make_source(tmp_path)
    _write_gz(src / "train.en.gz", b"one\ntwo \xc3\x28\nthree\n")
    with pytest.raises(TranslatorError, match=r"train\.en\.gz.*line 2"):
        fetch_multi30k(tmp_path / "out", src, verify_checksum=False, expected_counts=COUNTS)


def test_missing_file(tmp_path: Path) -> None:
    src, sums = _make_source(tmp_path)
    (src / "val.en.gz").unlink()
    out = tmp_path / "out"
    with pytest.raises(TranslatorError, match=r"missing.*val\.en\.gz"):
        fetch_multi30k(out, src, expected_counts=COUNTS, expected_sha256=sums)
    assert not out.exists()


def test_checksum_mismatch_leaves_out_dir_unchanged(tmp_path: Path) -> None:
    src, sums = _make_source(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.en.gz").write_bytes(b"stale")
    before = _snapshot(out)
    sums["val.fr.gz"] = "0" * 64
    with pytest.raises(TranslatorError, match=r"val\.fr\.gz.*SHA-256 mismatch"):
        fetch_multi30k(out, src, expected_counts=COUNTS, expected_sha256=sums)
    assert _snapshot(out) == before
    # Skipping the checksum (another mirror) succeeds, since counts and UTF-8 are fine.
    fetch_multi30k(out, src, verify_checksum=False, expected_counts=COUNTS)
    assert read_lines(out / "val.fr.gz")[1] == "val phrase n°1"


def test_download_failure_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(data.urllib.request, "urlopen", fail)
    monkeypatch.setattr(data, "RETRY_DELAY", 0.0)
    out = tmp_path / "out"
    with pytest.raises(TranslatorError, match=r"could not download https://.*train\.en\.gz"):
        fetch_multi30k(out)
    assert not out.exists()


def test_main_reports_error_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--from", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error: missing file")
    assert "Traceback" not in err


@pytest.mark.skipif(not SHARED.is_dir(), reason="local Multi30k copy not available")
def test_fetch_real_corpus(tmp_path: Path) -> None:
    out = tmp_path / "multi30k"
    assert main(["--from", str(SHARED), "--out", str(out)]) == 0
    for split, n in data.EXPECTED_COUNTS.items():
        en, fr = read_parallel(*split_paths(out, split))
        assert len(en) == len(fr) == n
    assert main(["--from", str(SHARED), "--out", str(out)]) == 0  # up-to-date no-op
