"""Batch jobs without a model: readers, formats, overlong splitting, window planning, journal, remote retries."""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from translator.batch import (
    DecodeOptions,
    JobSpec,
    RemoteEngine,
    WindowTask,
    split_overlong,
    translate_window,
)
from translator.batch_io import (
    Record,
    RecordFormat,
    concatenate,
    format_window,
    iter_windows,
    parse_window,
    scan_input,
)
from translator.batch_journal import Journal
from translator.errors import TranslatorError


def count_words(text: str) -> int:
    """A whitespace tokenizer: one token per word."""
    return len(text.split())


class WordEngine:
    """Uppercases, scores minus the number of words; one token per word; records its calls."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.calls: list[list[str]] = []

    def count(self, text: str) -> int:
        return count_words(text)

    def translate(
        self, segments: list[str], lengths: list[int], done: Callable[[list[int]], None]
    ) -> list[tuple[str, float]]:
        self.calls.append(list(segments))
        done(list(range(len(segments))))
        return [(s.upper(), -float(count_words(s))) for s in segments]


# -- reading -------------------------------------------------------------------------------
def test_scan_counts_lines_hashes_and_checks_utf8(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_bytes(b"one\ntwo\r\n\nlast without newline")
    scan = scan_input(f)
    assert scan.lines == 4 and scan.size == f.stat().st_size and len(scan.sha256) == 64
    f.write_bytes(b"one\ntwo\n")
    assert scan_input(f).lines == 2
    f.write_bytes(b"")
    assert scan_input(f).lines == 0
    gz = tmp_path / "a.txt.gz"
    gz.write_bytes(gzip.compress(b"x\ny\nz\n"))
    assert scan_input(gz).lines == 3
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\nfine\nbad \xff byte\n")
    with pytest.raises(TranslatorError, match="invalid UTF-8 on line 3"):
        scan_input(bad)
    assert scan_input(bad, check_utf8=False).lines == 3
    (tmp_path / "corrupt.gz").write_bytes(b"not gzip at all")
    with pytest.raises(TranslatorError, match="not a valid gzip file"):
        scan_input(tmp_path / "corrupt.gz")
    with pytest.raises(TranslatorError, match="file not found"):
        scan_input(tmp_path / "missing.txt")


def test_windows_and_line_endings(tmp_path: Path) -> None:
    f = tmp_path / "a.txt.gz"
    f.write_bytes(gzip.compress(b"".join(b"line %d\r\n" % i for i in range(7))))
    windows = list(iter_windows(f, 3))
    assert [len(w) for w in windows] == [3, 3, 1]
    assert windows[0][0] == b"line 0" and windows[2] == [b"line 6"]


def test_parse_text_and_invalid_utf8(tmp_path: Path) -> None:
    fmt = RecordFormat()
    records = parse_window([b"a b", b"", b"bad \xff"], 11, fmt, "replace", "in.txt")
    assert [r.lineno for r in records] == [11, 12, 13]
    assert records[2].text == "bad \ufffd" and records[2].replaced and not records[0].replaced
    with pytest.raises(TranslatorError, match=r"in\.txt: invalid UTF-8 on line 13"):
        parse_window([b"a b", b"", b"bad \xff"], 11, fmt, "strict", "in.txt")


def test_parse_and_format_jsonl() -> None:
    fmt = RecordFormat("jsonl", text_field="src", id_field="id", output_field="fr")
    lines = [b'{"id": "x1", "src": "a dog", "meta": {"k": [1, 2]}}', b"", b'{"src": "caf\xc3\xa9"}']
    records = parse_window(lines, 1, fmt, "strict", "in.jsonl")
    assert records[0].obj == {"id": "x1", "src": "a dog", "meta": {"k": [1, 2]}}
    assert records[1].obj is None and records[1].text == ""
    assert records[2].obj == {"id": 3, "src": "café"}  # no id: the line number
    out = format_window(records, ["un chien", "", "café!"], fmt).decode().split("\n")
    assert json.loads(out[0]) == {"id": "x1", "src": "a dog", "meta": {"k": [1, 2]}, "fr": "un chien"}
    assert out[1] == "" and json.loads(out[2]) == {"id": 3, "src": "café", "fr": "café!"}
    assert "café" in out[2]  # UTF-8, not \u escapes
    scored = dataclasses.replace(fmt, score_field="score")
    out = format_window(records, ["un chien", "", ""], scored, [-0.123456, None, None]).decode().split("\n")
    assert json.loads(out[0])["score"] == -0.1235 and out[1] == "" and json.loads(out[2])["score"] is None
    with pytest.raises(TranslatorError, match="--score-field: only with --format jsonl"):
        RecordFormat("text", score_field="score")
    with pytest.raises(TranslatorError, match="--score-field 'fr' is also"):
        dataclasses.replace(fmt, score_field="fr")
    for bad, message in ((b"{nope", "line 5 is not valid JSON"), (b"[1]", "line 5 is not a JSON object"),
                         (b'{"text": "x"}', "line 5: field 'src' must be a string, it is missing"),
                         (b'{"src": 3}', "line 5: field 'src' must be a string, it is a int")):  # fmt: skip
        with pytest.raises(TranslatorError, match=message):
            parse_window([bad], 5, fmt, "strict", "in.jsonl")


def test_an_unset_score_field_is_not_in_the_job_fingerprint(tmp_path: Path) -> None:
    """A journal begun before --score-field existed resumes; one with it set is a different job."""
    plain = JobSpec(input=tmp_path / "in.jsonl", output=None, fmt=RecordFormat("jsonl")).options_fingerprint()
    scored = JobSpec(input=tmp_path / "in.jsonl", output=None, fmt=RecordFormat("jsonl", score_field="s"))
    assert "format.score_field" not in plain and plain["format.kind"] == "jsonl"
    assert scored.options_fingerprint() == {**plain, "format.score_field": "s"}


def test_a_translation_never_breaks_lines() -> None:
    records = [Record(1, "a"), Record(2, "b")]
    assert format_window(records, ["x\ny", "z\r"], RecordFormat()) == b"x y\nz \n"


def test_gzip_output_is_deterministic(tmp_path: Path) -> None:
    parts = [tmp_path / "p1", tmp_path / "p2"]
    parts[0].write_bytes(b"a\nb\n")
    parts[1].write_bytes(b"c\n")
    concatenate(parts, tmp_path / "one.gz", gz=True)
    concatenate(parts, tmp_path / "two.gz", gz=True)
    assert (tmp_path / "one.gz").read_bytes() == (tmp_path / "two.gz").read_bytes()
    assert gzip.decompress((tmp_path / "one.gz").read_bytes()) == b"a\nb\nc\n"


# -- overlong lines and windows --------------------------------------------------------------
def test_split_overlong_into_sentences_then_word_chunks() -> None:
    text = "A b c. D e f g h i j k. L"
    pieces = split_overlong(text, count_words, 4)
    assert pieces == ["A b c.", "D e f g", "h i j k.", "L"]
    assert all(count_words(p) <= 4 for p in pieces)
    assert " ".join(pieces) == text
    # a single "word" over the limit (one token per character here) is cut into slices
    chars = split_overlong("abcdefghij", len, 4)
    assert "".join(chars) == "abcdefghij" and all(len(c) <= 4 for c in chars)


def test_window_policies_keep_alignment() -> None:
    texts = ["a b", "", "   ", "one two three. four five", "x y z w v", "c"]
    progress: list[int] = []
    engine = WordEngine(limit=3)
    result = translate_window(WindowTask(0, 1, texts, "in.txt", "split"), engine, progress.append)
    assert result.translations == ["A B", "", "", "ONE TWO THREE. FOUR FIVE", "X Y Z W V", "C"]
    assert result.scores == [-2.0, 0.0, 0.0, -2.5, -2.5, -1.0]  # a split line: the mean of its pieces'
    assert result.counts == {"empty": 2, "split": 2, "skipped": 0}
    assert sum(progress) == len(texts)
    assert engine.calls == [["a b", "one two three.", "four five", "x y z", "w v", "c"]]

    result = translate_window(WindowTask(0, 1, texts, "in.txt", "skip"), WordEngine(3), lambda n: None)
    assert result.translations == ["A B", "", "", "", "", "C"]
    assert result.scores == [-2.0, 0.0, 0.0, None, None, -1.0]  # skipped: no score
    assert result.counts == {"empty": 2, "split": 0, "skipped": 2}

    with pytest.raises(TranslatorError, match=r"in.txt: line 104 is 5 tokens long; the limit is max_input_tokens=3"):
        translate_window(WindowTask(0, 101, texts, "in.txt", "refuse"), WordEngine(3), lambda n: None)


# -- journal ---------------------------------------------------------------------------------
def fingerprint(**options: Any) -> dict[str, Any]:
    return {"input": {"size": 1, "sha256": "a"}, "model": {"m": 1}, "options": {"beam_size": 5, **options}}


def test_journal_commits_and_refuses_another_job(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    j = Journal(out, fingerprint())
    assert j.open(restart=False) == {}
    counts = {"lines": 2, "empty": 0, "split": 0, "skipped": 0, "replaced": 0}
    j.commit(0, b"x\ny\n", counts)
    j.chunk(1).write_bytes(b"uncommitted\n")  # written but killed before its commit record
    j.commit(2, b"z\n", {**counts, "lines": 1})
    j.chunk(2).write_bytes(b"truncated")  # a commit record whose chunk does not match is not trusted
    j.close()

    j = Journal(out, fingerprint())
    assert j.open(restart=False) == {0: counts}
    with pytest.raises(TranslatorError, match="another job is writing"):
        Journal(out, fingerprint()).open(restart=False)
    j.close()

    changed = fingerprint(beam_size=2)
    changed["input"] = {"size": 2, "sha256": "b"}
    with pytest.raises(TranslatorError) as err:
        Journal(out, changed).open(restart=False)
    assert "the input file changed" in str(err.value) and "option beam_size: 5 -> 2" in str(err.value)
    assert "--restart" in str(err.value)
    j = Journal(out, changed)
    assert j.open(restart=True) == {}
    j.commit(0, b"done\n", {**counts, "lines": 1})
    j.finish(windows=1)
    assert out.read_bytes() == b"done\n" and not j.dir.exists()


# -- remote retries --------------------------------------------------------------------------
class Unavailable(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "connection refused"


class FakeCall:
    def __init__(self, responses: Iterator[Any]) -> None:
        self.responses = responses

    def __iter__(self) -> Iterator[Any]:
        return self.responses

    def cancel(self) -> None:
        pass


class FlakyStub:
    """Fails the first stream with UNAVAILABLE after one answer, then answers everything (uppercased)."""

    def __init__(self) -> None:
        self.calls = 0

    def TranslateStream(self, requests: Iterator[Any], metadata: Any = None) -> FakeCall:
        from translator._proto import translator_pb2 as pb

        self.calls += 1
        first = self.calls == 1

        def responses() -> Iterator[Any]:
            for n, r in enumerate(requests):
                if first and n == 1:
                    raise Unavailable()
                yield pb.TranslateStreamResponse(id=r.id, translation=pb.Translation(text=r.text.upper(), score=-0.5))

        return FakeCall(responses())


class FakeTokenizer:
    def encode(self, text: str) -> list[int]:
        return [0] * len(text.split())


def test_remote_window_is_retried_on_unavailable() -> None:
    client = type("Client", (), {"stub": FlakyStub(), "metadata": (), "target": "fake:1"})()
    engine = RemoteEngine(client, FakeTokenizer(), 10, DecodeOptions(), max_in_flight=2)  # type: ignore[arg-type]
    progress: list[int] = []
    result = translate_window(WindowTask(0, 1, ["a b", "", "c d e"], "in", "split"), engine, progress.append)
    assert result.translations == ["A B", "", "C D E"] and result.scores == [-0.5, 0.0, -0.5]
    assert client.stub.calls == 2 and sum(progress) == 3  # nothing counted twice
