"""The "data" command: fetch and verify the Multi30k task-1 English-French corpus."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import logging
import os
import sys
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from translator.errors import TranslatorError

logger = logging.getLogger(__name__)

BASE_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"
SPLITS: tuple[str, ...] = ("train", "val", "test_2016_flickr", "test_2017_flickr")
LANGS: tuple[str, str] = ("en", "fr")
EXPECTED_COUNTS: dict[str, int] = {
    "train": 29000,
    "val": 1014,
    "test_2016_flickr": 1000,
    "test_2017_flickr": 1000,
}
EXPECTED_SHA256: dict[str, str] = {
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "train.fr.gz": "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "val.fr.gz": "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2016_flickr.fr.gz": "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90",
    "test_2017_flickr.en.gz": "76a444ee25172e72695cddb13ae4a3bda59430617be88e0bb46b60504f054074",
    "test_2017_flickr.fr.gz": "3ba671ceb2299f3304ffafefea7a833d08632fbaf0ba18546f8a2ec2391af496",
}
DOWNLOAD_TIMEOUT = 30.0
DOWNLOAD_ATTEMPTS = 2
RETRY_DELAY = 1.0


def split_paths(data_dir: Path, split: str) -> tuple[Path, Path]:
    """Return the (en, fr) gz file paths of a split inside data_dir."""
    return data_dir / f"{split}.{LANGS[0]}.gz", data_dir / f"{split}.{LANGS[1]}.gz"


def _decode_lines(data: bytes, name: str) -> list[str]:
    """Decode UTF-8 bytes (strictly) into lines without their trailing newline."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TranslatorError(f"{name}: invalid UTF-8 on line {line}") from None
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _gunzip(data: bytes, name: str) -> bytes:
    """Decompress gzip bytes, raising TranslatorError if they are corrupt."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise TranslatorError(f"{name}: not a valid gzip file ({exc})") from None


def read_lines(path: Path) -> list[str]:
    """Read a .gz or plain UTF-8 text file as a list of lines (newlines stripped)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TranslatorError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.suffix == ".gz":
        data = _gunzip(data, str(path))
    return _decode_lines(data, str(path))


def read_parallel(src: Path, tgt: Path) -> tuple[list[str], list[str]]:
    """Read two line-aligned files; their line counts must be equal."""
    src_lines, tgt_lines = read_lines(src), read_lines(tgt)
    if len(src_lines) != len(tgt_lines):
        raise TranslatorError(f"line count mismatch: {src} has {len(src_lines)} lines, {tgt} has {len(tgt_lines)}")
    return src_lines, tgt_lines


def _download(url: str) -> bytes:
    """Download url with a timeout and a small bounded number of attempts."""
    reason = ""
    for attempt in range(DOWNLOAD_ATTEMPTS):
        if attempt:
            time.sleep(RETRY_DELAY * attempt)
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp:
                data: bytes = resp.read()
                return data
        except (urllib.error.URLError, OSError) as exc:
            reason = str(getattr(exc, "reason", exc))
            logger.warning("download of %s failed (attempt %d): %s", url, attempt + 1, reason)
    raise TranslatorError(f"could not download {url}: {reason} (no network? use --from DIR with a local copy)")


def _verify(files: dict[str, bytes], counts: dict[str, int], sha256: dict[str, str] | None, where: str) -> None:
    """Check checksums, gzip, UTF-8 and line counts of in-memory files."""
    for split, expected in counts.items():
        found: dict[str, int] = {}
        for name in (p.name for p in split_paths(Path(), split)):
            label = f"{where}/{name}"
            if sha256 is not None:
                digest = hashlib.sha256(files[name]).hexdigest()
                if digest != sha256.get(name):
                    raise TranslatorError(
                        f"{label}: SHA-256 mismatch (expected {sha256.get(name)}, "
                        f"got {digest}); use --no-verify-checksum for a trusted mirror"
                    )
            found[label] = len(_decode_lines(_gunzip(files[name], label), label))
        (en, n_en), (fr, n_fr) = found.items()
        if n_en != n_fr:
            raise TranslatorError(f"line count mismatch: {en} has {n_en} lines, {fr} has {n_fr}")
        if n_en != expected:
            raise TranslatorError(f"{en} and {fr}: expected {expected} lines, found {n_en}")


def _read_dir(directory: Path, names: list[str]) -> dict[str, bytes]:
    """Read the named files from a directory, raising if any is missing."""
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        raise TranslatorError(f"missing file(s) in {directory}: {', '.join(missing)}")
    try:
        return {n: (directory / n).read_bytes() for n in names}
    except OSError as exc:
        raise TranslatorError(f"cannot read {exc.filename}: {exc.strerror}") from None


def _write_atomic(out_dir: Path, files: dict[str, bytes]) -> None:
    """Write all files to temporaries in out_dir, then rename them into place."""
    temps = {name: out_dir / f".{name}.{os.getpid()}.tmp" for name in files}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, tmp in temps.items():
            with tmp.open("wb") as fh:
                fh.write(files[name])
                fh.flush()
                os.fsync(fh.fileno())
        for name, tmp in temps.items():
            tmp.replace(out_dir / name)
    except OSError as exc:
        raise TranslatorError(f"cannot write to {out_dir}: {exc}") from None
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


def fetch_multi30k(
    out_dir: Path,
    source_dir: Path | None = None,
    verify_checksum: bool = True,
    *,
    expected_counts: dict[str, int] | None = None,
    expected_sha256: dict[str, str] | None = None,
) -> Path:
    """Fetch, verify and store the Multi30k splits (keys of expected_counts) in out_dir."""
    counts = EXPECTED_COUNTS if expected_counts is None else expected_counts
    sha256: dict[str, str] | None = None
    if verify_checksum:
        sha256 = EXPECTED_SHA256 if expected_sha256 is None else expected_sha256
    names = [f"{split}.{lang}.gz" for split in counts for lang in LANGS]
    out_dir = Path(out_dir)
    if all((out_dir / n).is_file() for n in names):
        try:
            _verify(_read_dir(out_dir, names), counts, sha256, str(out_dir))
            logger.info("%s is up to date", out_dir)
            return out_dir
        except TranslatorError as exc:
            logger.info("existing files in %s fail verification (%s); fetching again", out_dir, exc)
    if source_dir is not None:
        logger.info("copying Multi30k from %s", source_dir)
        files = _read_dir(Path(source_dir), names)
        where = str(source_dir)
    else:
        files = {}
        for name in names:
            logger.info("downloading %s%s", BASE_URL, name)
            files[name] = _download(BASE_URL + name)
        where = BASE_URL.rstrip("/")
    _verify(files, counts, sha256, where)
    _write_atomic(out_dir, files)
    logger.info("wrote %d verified files to %s", len(files), out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns a process exit code."""
    parser = argparse.ArgumentParser(description="Fetch and verify the Multi30k en-fr corpus.")
    add = parser.add_argument
    add("--from", dest="source", type=Path, metavar="DIR", help="copy gz files from DIR")
    add(
        "--out",
        type=Path,
        default=Path("data/multi30k"),
        metavar="DIR",
        help="output directory (default: data/multi30k)",
    )
    add(
        "--no-verify-checksum",
        action="store_true",
        help="skip SHA-256 checks (line counts and UTF-8 are always checked)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        fetch_multi30k(args.out, args.source, verify_checksum=not args.no_verify_checksum)
    except TranslatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
