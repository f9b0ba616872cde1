"""Files of batch translation jobs: streaming readers, record formats, durable writes.

Input is read as bytes and split on b"\\n" only (a trailing "\\r" is dropped), as
`training.data.read_lines` does, so line numbers are the same everywhere; a
`.gz` suffix means gzip. Two formats:

- `text`: one sentence per line; the output has one translation per line.
- `jsonl`: one JSON object per line with the text in `text_field`; every field
  passes through, the output adds the translation in `output_field` (and the
  line number in `id_field` when the object has no id), and with `score_field`
  the translation's score (length-normalised log-probability, 4 decimals; 0.0
  for a blank text, as `Translator.translate` gives it, and null for a skipped line).

A blank line (both formats) gives an empty output line, so output line N
always answers input line N. Nothing here holds more than one window in memory.
"""

from __future__ import annotations

import codecs
import dataclasses
import gzip
import hashlib
import io
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from translator.errors import TranslatorError

FORMATS = ("text", "jsonl")
ERRORS = ("strict", "replace")
READ_CHUNK = 1 << 20
_GZIP_ERRORS = (OSError, EOFError, zlib.error)


class InputError(TranslatorError):
    """The input itself is bad (a line that cannot be parsed or translated under the options):
    rerunning the same command fails the same way, so a journal with nothing committed is removed."""


def is_gzip(path: Path) -> bool:
    return path.suffix == ".gz"


@dataclasses.dataclass(frozen=True)
class RecordFormat:
    kind: str = "text"  # text | jsonl
    text_field: str = "text"
    id_field: str = "id"
    output_field: str = "translation"
    score_field: str | None = None  # jsonl: also write each translation's score in this field

    def __post_init__(self) -> None:
        if self.kind not in FORMATS:
            raise TranslatorError(f"format must be one of {', '.join(FORMATS)}, got {self.kind!r}")
        if self.score_field is not None and self.kind != "jsonl":
            raise TranslatorError("--score-field: only with --format jsonl (text output is one translation per line)")
        if self.score_field in (self.output_field, self.id_field):
            raise TranslatorError(f"--score-field {self.score_field!r} is also the translation's or the id's field")


@dataclasses.dataclass(slots=True)
class Record:
    """One input line: `text` is what gets translated ("" for a blank line)."""

    lineno: int  # 1-based
    text: str
    obj: dict[str, Any] | None = None  # the JSON object (jsonl), None for text or a blank jsonl line
    replaced: bool = False  # had invalid UTF-8, decoded with U+FFFD


@dataclasses.dataclass(frozen=True)
class InputScan:
    """What one streaming pass over the input found (the job's input fingerprint)."""

    size: int  # bytes on disk
    sha256: str  # of the bytes on disk
    lines: int


def _open_raw(path: Path) -> io.BufferedReader:
    try:
        return path.open("rb")
    except OSError as exc:
        raise TranslatorError(f"cannot read {path}: {exc.strerror or exc}") from None


def open_lines(path: Path) -> io.BufferedIOBase:
    """The (decompressed) byte stream of an input file."""
    raw = _open_raw(path)
    return gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip(path) else raw


def _first_invalid_line(path: Path) -> int:
    with open_lines(path) as f:
        for n, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return n
    return 0


def scan_input(path: Path, check_utf8: bool = True) -> InputScan:
    """Size and SHA-256 of the file, its line count and (with `check_utf8`) strict UTF-8, in one stream.

    Invalid UTF-8 is an error naming the line, before any work starts. A gzip
    input is hashed as stored and counted decompressed.
    """
    if not path.is_file():
        raise TranslatorError(f"file not found: {path}")
    digest = hashlib.sha256()
    size = 0
    with _open_raw(path) as f:
        for chunk in iter(lambda: f.read(READ_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    lines, last = 0, b"\n"
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        with open_lines(path) as f:
            for chunk in iter(lambda: f.read(READ_CHUNK), b""):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
                if check_utf8:
                    decoder.decode(chunk)
            if check_utf8:
                decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InputError(f"{path}: invalid UTF-8 on line {_first_invalid_line(path)}") from None
    except _GZIP_ERRORS as exc:
        raise TranslatorError(f"{path}: not a valid gzip file ({exc})") from None
    if last != b"\n":
        lines += 1  # a last line without newline
    return InputScan(size=size, sha256=digest.hexdigest(), lines=lines)


def check_records(path: Path, window: int, fmt: RecordFormat, errors: str, label: str) -> None:
    """Parse every line once (JSONL: cheap next to translating), so that a malformed line is an
    error before any work starts; one window in memory at a time."""
    for index, raw in enumerate(iter_windows(path, window)):
        parse_window(raw, index * window + 1, fmt, errors, label)


def iter_windows(path: Path, window: int) -> Iterator[list[bytes]]:
    """Consecutive windows of `window` raw lines (without b"\\n" / b"\\r\\n"); the last may be shorter."""
    if window < 1:
        raise TranslatorError(f"window must be >= 1, got {window}")
    buf: list[bytes] = []
    try:
        with open_lines(path) as f:
            for line in f:
                buf.append(line.removesuffix(b"\n").removesuffix(b"\r"))
                if len(buf) == window:
                    yield buf
                    buf = []
    except _GZIP_ERRORS as exc:
        raise TranslatorError(f"{path}: not a valid gzip file ({exc})") from None
    if buf:
        yield buf


def decode_line(raw: bytes, lineno: int, errors: str, label: str) -> tuple[str, bool]:
    """(text, replaced): strict UTF-8 is an error naming the line; `errors="replace"` puts U+FFFD."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        if errors != "replace":
            raise InputError(f"{label}: invalid UTF-8 on line {lineno} (--errors replace to go on)") from None
        return raw.decode("utf-8", errors="replace"), True


def parse_window(raw_lines: list[bytes], first_lineno: int, fmt: RecordFormat, errors: str, label: str) -> list[Record]:
    """Records of one window; every problem names its line."""
    records: list[Record] = []
    for n, raw in enumerate(raw_lines, first_lineno):
        text, replaced = decode_line(raw, n, errors, label)
        if fmt.kind == "text" or not text.strip():
            records.append(Record(n, text, None, replaced))
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{label}: line {n} is not valid JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise InputError(f"{label}: line {n} is not a JSON object")
        value = obj.get(fmt.text_field)
        if not isinstance(value, str):
            found = "missing" if value is None else f"a {type(value).__name__}"
            raise InputError(f"{label}: line {n}: field {fmt.text_field!r} must be a string, it is {found}")
        if fmt.id_field not in obj:
            obj = {fmt.id_field: n, **obj}
        records.append(Record(n, value, obj, replaced))
    return records


def _one_line(text: str) -> str:
    """A translation never breaks the line alignment of the output."""
    return text.replace("\r", " ").replace("\n", " ")


def format_window(
    records: list[Record], translations: list[str], fmt: RecordFormat, scores: list[float | None] | None = None
) -> bytes:
    """The output lines of one window (each ends with "\\n"); `scores` for `fmt.score_field`."""
    out: list[str] = []
    for n, (record, translation) in enumerate(zip(records, translations, strict=True)):
        if fmt.kind == "text":
            out.append(_one_line(translation))
        elif record.obj is None:
            out.append("")
        else:
            obj = {**record.obj, fmt.output_field: translation}
            if fmt.score_field is not None:
                score = scores[n] if scores is not None else None
                obj[fmt.score_field] = None if score is None else round(score, 4)
            out.append(json.dumps(obj, ensure_ascii=False))
    return "".join(line + "\n" for line in out).encode("utf-8")


# -- durable files (single files: translator.bundle.atomic_write_bytes) ----------------------
def concatenate(parts: Iterable[Path], dest: Path, gz: bool) -> None:
    """Stream `parts` into `dest` (gzip with a fixed header when `gz`, so reruns are byte-identical), fsync."""
    with dest.open("wb") as raw:
        sink: io.BufferedIOBase = gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) if gz else raw
        for part in parts:
            with part.open("rb") as f:
                while chunk := f.read(READ_CHUNK):
                    sink.write(chunk)
        if gz:
            sink.close()
        raw.flush()
        os.fsync(raw.fileno())
