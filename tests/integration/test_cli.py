"""The `translator` command on a tiny bundle: outputs, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from translator.cli import main

pytestmark = pytest.mark.integration


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_translate_text_and_empty_lines(capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "translate", "--model", str(tiny_bundle), "red dog runs")
    assert code == 0 and out == "runs dog red\n"
    src = tmp_path / "in.txt"
    src.write_text("big cat\n\n   \nthe boy sits\n")
    code, out, _ = run(capsys, "translate", "--model", str(tiny_bundle), "-i", str(src), "--beam", "1")
    assert code == 0
    assert out.split("\n")[:4] == ["cat big", "", "", "sits boy the"]


def test_overlong_input_is_refused(capsys: pytest.CaptureFixture[str], tiny_bundle: Path) -> None:
    code, out, err = run(capsys, "translate", "--model", str(tiny_bundle), "--max-input-tokens", "5",
                         "red dog runs on the big cat")  # fmt: skip
    assert code == 2 and out == ""
    assert "max_input_tokens=5" in err and "Traceback" not in err


def test_missing_and_corrupt_model(capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path) -> None:
    code, _, err = run(capsys, "translate", "--model", str(tmp_path / "none"), "hello")
    assert code == 2 and "model directory not found" in err
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle, broken)
    (broken / "spm.model").write_bytes(b"garbage")
    code, _, err = run(capsys, "translate", "--model", str(broken), "hello")
    assert code == 2 and "spm.model does not match its manifest" in err


def test_evaluate_prints_one_json_line(capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path) -> None:
    from helpers import reverse_task

    src, ref = reverse_task(30, seed=5)
    (tmp_path / "s").write_text("\n".join(src) + "\n")
    (tmp_path / "r").write_text("\n".join(ref) + "\n")
    code, out, _ = run(capsys, "evaluate", "--model", str(tiny_bundle), "--src", str(tmp_path / "s"),
                       "--ref", str(tmp_path / "r"), "--beam", "2")  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert result["bleu"] > 80 and result["chrf"] > 80
    assert "tok:13a" in result["bleu_signature"] and "case:mixed" in result["bleu_signature"]
    (tmp_path / "r").write_text("only one line\n")
    code, _, err = run(capsys, "evaluate", "--model", str(tiny_bundle), "--src", str(tmp_path / "s"),
                       "--ref", str(tmp_path / "r"))  # fmt: skip
    assert code == 2 and "has 30 lines" in err


def test_invalid_utf8_input_names_the_line(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"red dog\nbig \xff cat\n")
    code, _, err = run(capsys, "translate", "--model", str(tiny_bundle), "-i", str(bad))
    assert code == 2 and "line 2" in err


# -- bad input: one-line errors, exit code 2, nothing written ------------------------------------
def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_invalid_utf8_on_stdin_and_in_an_argument(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tiny_bundle: Path
) -> None:
    model = ("--model", str(tiny_bundle), "--beam", "1")
    _stdin(monkeypatch, b"red dog\n\xff\xfe\n")
    code, out, err = run(capsys, "translate", *model)
    assert code == 2 and out == "" and err == "error: stdin line 2 is not valid UTF-8 (--errors replace to go on)\n"
    _stdin(monkeypatch, b"red dog\r\n\xff\xfe\n")
    code, out, _ = run(capsys, "translate", *model, "--errors", "replace")
    assert code == 0 and out.split("\n")[0] == "dog red" and out.count("\n") == 2
    bad = b"\xff\xfe".decode("utf-8", "surrogateescape")  # how the OS hands Python an invalid argument
    code, out, err = run(capsys, "translate", *model, "red dog", bad)
    assert code == 2 and out == "" and "text argument 2 is not valid UTF-8" in err
    code, out, _ = run(capsys, "translate", *model, "--errors", "replace", bad)
    assert code == 0 and out.count("\n") == 1


def test_output_paths_are_checked_before_work_and_written_atomically(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path
) -> None:
    import gzip

    model = ("--model", str(tiny_bundle), "--beam", "1")
    src = tmp_path / "src.txt"
    src.write_text("red dog\n")
    missing = str(tmp_path / "no" / "out.txt")
    cases = [
        ("translate", *model, "-o", missing, "red dog"),
        ("evaluate", *model, "--src", str(src), "--ref", str(src), "--output", missing),
        ("align", *model, "--src", str(src), "--out", missing),
        ("align-baseline", "--src", str(src), "--tgt", str(src), "--out", missing),
    ]
    for argv in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "" and "does not exist" in err and "Traceback" not in err, argv
    code, _, err = run(capsys, "translate", *model, "-o", str(tmp_path), "red dog")
    assert code == 2 and err == f"error: -o {tmp_path} is a directory\n"
    code, _, err = run(capsys, "translate", *model, "-o", str(src / "out.txt"), "red dog")
    assert code == 2 and "is not a directory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.txt"]  # nothing left behind
    for argv, name in [
        (("translate", *model, "red dog", "-o"), "t.txt.gz"),
        (("evaluate", *model, "--src", str(src), "--ref", str(src), "--output"), "e.txt.gz"),
    ]:
        code, _, _ = run(capsys, *argv, str(tmp_path / name))
        assert code == 0 and gzip.decompress((tmp_path / name).read_bytes()) == b"dog red\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.txt.gz", "src.txt", "t.txt.gz"]


def test_evaluate_empty_files(capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, out, err = run(capsys, "evaluate", "--model", str(tiny_bundle), "--src", str(empty), "--ref", str(empty))
    assert code == 2 and out == "" and "no sentences to evaluate" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["translate", "--threads", "-1", "A dog."], "--threads: must be >= 0"),
        (["translate", "--workers", "0", "-i", "x"], "--workers: must be >= 1"),
        (["translate", "--workers", "-3", "-i", "x"], "--workers: must be >= 1"),
        (["align", "--src", "x", "--threshold", "5"], "--threshold: must be in (0, 1]"),
        (["align", "--src", "x", "--threshold", "-1"], "--threshold: must be in (0, 1]"),
        (["translate", "--beam", "0", "A dog."], "--beam: must be >= 1"),
        (["translate", "--server", "localhost:1", "--beam", "0", "A dog."], "--beam: must be >= 1"),
    ],
)
def test_bad_numbers_are_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and "Traceback" not in err


def test_server_unreachable_with_model_is_a_clear_error(capsys: pytest.CaptureFixture[str], tiny_bundle: Path) -> None:
    # --model with --server asks the server for its model first: no server there is a one-line error
    code, _, err = run(capsys, "translate", "--server", "localhost:1", "--model", str(tiny_bundle), "red dog")
    assert code == 2 and "server localhost:1: UNAVAILABLE" in err and "Traceback" not in err


def test_batch_options_need_input_file(capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("red dog\n")
    out_file = tmp_path / "out.txt"
    code, out, err = run(capsys, "translate", "--model", str(tiny_bundle), "red dog", "-i", str(src), "-o",
                         str(out_file))  # fmt: skip
    assert code == 2 and "not both" in err and not out_file.exists()
    for extra in (["--format", "jsonl"], ["--overlong", "skip"], ["--text-field", "t"], ["--quiet"],
                  ["--format", "text"]):  # fmt: skip
        code, out, err = run(capsys, "translate", "--model", str(tiny_bundle), *extra, "red dog")
        assert code == 2 and out == "" and f"{extra[0]}: only for -i FILE jobs" in err, extra
    code, out, _ = run(capsys, "translate", "--model", str(tiny_bundle), "--beam", "1", "--quiet", "--format", "text",
                       "-i", str(src))  # fmt: skip
    assert code == 0 and out == "dog red\n"


def test_json_output_gives_the_n_best_with_scores(capsys: pytest.CaptureFixture[str], tiny_bundle: Path) -> None:
    code, out, _ = run(capsys, "translate", "--model", str(tiny_bundle), "--beam", "3", "--json", "--n-best", "3",
                       "red dog", "")  # fmt: skip
    first, empty = (json.loads(line) for line in out.splitlines())
    assert code == 0 and first["source"] == "red dog" and first["translation"] == "dog red"
    hyps = first["hypotheses"]
    assert len(hyps) == 3 and hyps[0] == {"text": "dog red", "score": first["score"], "log_prob": hyps[0]["log_prob"]}
    assert len({h["text"] for h in hyps}) == 3  # distinct hypotheses, best first
    assert [h["score"] for h in hyps] == sorted((h["score"] for h in hyps), reverse=True)
    assert all(h["log_prob"] <= h["score"] <= 0 for h in hyps)  # score = log_prob / length ** 1.0
    assert empty == {"source": "", "translation": "", "score": 0.0, "hypotheses": [{"text": "", "score": 0.0,
                                                                                   "log_prob": 0.0}]}  # fmt: skip
    code, out, _ = run(capsys, "translate", "--model", str(tiny_bundle), "red dog")
    assert code == 0 and out == "dog red\n"  # without --json: the best text only


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--n-best", "2"], "--n-best: only with --json"),
        (["--json", "-i", "in.txt"], "--json, --n-best: only for texts and stdin"),
        (["--json", "--n-best", "6"], "n_best must be between 1 and beam_size (5), got 6"),
    ],
)
def test_bad_json_and_n_best_options(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, extra: list[str], message: str
) -> None:
    code, out, err = run(capsys, "translate", "--model", str(tiny_bundle), *extra, *([] if "-i" in extra else ["x"]))
    assert code == 2 and out == "" and message in err


def test_model_file_and_input_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"png")
    code, _, err = run(capsys, "translate", "--model", str(fake), "hello")
    assert code == 2 and "is not a directory" in err
    code, _, err = run(capsys, "translate", "-i", str(tmp_path))
    assert code == 2 and err == f"error: {tmp_path} is a directory, not a file\n"


def test_align_plot_dir_checked_before_work(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src.txt"
    src.write_text("red dog\n")
    out_file = tmp_path / "out.txt"
    for plot in (src, src / "sub"):
        code, _, err = run(capsys, "align", "--model", str(tiny_bundle), "--src", str(src), "--out", str(out_file),
                           "--plot", str(plot))  # fmt: skip
        assert code == 2 and "--plot" in err and not out_file.exists()


def test_convert_ct2_names_the_force_flag(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "convert-ct2", "--model", str(tiny_bundle), "--out", str(tmp_path))
    assert code == 2 and "use --force" in err and "force=True" not in err


def test_aer_lines_split_on_newline_only(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "gold").write_text("1 1 1 S\n")
    (tmp_path / "hyp").write_text("0-0\r\n")
    (tmp_path / "src").write_text("a\u2028b\x0cc\n")  # one line: U+2028 and form feed are not line breaks
    (tmp_path / "tgt").write_text("x\x1cy\n")
    files = ("--gold", str(tmp_path / "gold"), "--src", str(tmp_path / "src"), "--tgt", str(tmp_path / "tgt"))
    code, out, err = run(capsys, "aer", *files, "--hyp", str(tmp_path / "hyp"))
    assert code == 0, err
    assert json.loads(out)["sentences"] == 1
    from translator.aer import Gold, score

    with pytest.raises(Exception, match="the gold has 1 sentence but the hypothesis has 2"):
        score(Gold([{(0, 0)}], [{(0, 0)}]), [set(), set()])


def test_variant_help_names_the_int8_fallback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["translate", "--help"])
    assert "fp32 if exported, else int8" in " ".join(capsys.readouterr().out.split())


def test_verbatim_spans_and_the_no_verbatim_flag(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "translate", "--model", str(tiny_bundle), "red dog 🙂 runs", "12345")
    assert code == 0
    first, second = out.splitlines()
    assert first.count("🙂") == 1 and second == "12345"
    code, out, _ = run(capsys, "translate", "--model", str(tiny_bundle), "--no-verbatim", "12345")
    assert code == 0 and out != "12345\n"  # the tiny model cannot spell it
    # a batch job's journal records the choice, so resuming with the other one is refused
    from translator.batch import EngineSpec, JobSpec

    job = JobSpec(input=tmp_path / "in.txt", output=None)
    assert job.options_fingerprint()["verbatim"] is True
    off = JobSpec(input=tmp_path / "in.txt", output=None, engine=EngineSpec(verbatim=False))
    assert off.options_fingerprint()["verbatim"] is False
    # the server always copies spans through
    src = tmp_path / "in.txt"
    src.write_text("red dog 🙂 runs\n")
    code, out, err = run(capsys, "translate", "--model", str(tiny_bundle), "--quiet", "-i", str(src), "-o",
                         str(tmp_path / "out.txt"), "--no-verbatim", "--server", "localhost:1")  # fmt: skip
    assert code == 2 and "--no-verbatim: not with --server" in err


def test_long_sentences_clause_by_clause_and_the_no_clauses_flag(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path
) -> None:
    from helpers import reverse_task

    from translator.batch import EngineSpec, JobSpec

    src, _ = reverse_task(40, seed=13)
    long = ", and a ".join(s.rstrip(".?") for s in src[:8])  # "a": a clause with a subject
    code, on, _ = run(capsys, "translate", "--model", str(tiny_bundle), long)
    assert code == 0 and ", et " in on
    code, off, _ = run(capsys, "translate", "--model", str(tiny_bundle), "--no-clauses", long)
    assert code == 0 and off != on
    assert JobSpec(input=tmp_path / "in.txt", output=None).options_fingerprint()["clauses"] is True
    job = JobSpec(input=tmp_path / "in.txt", output=None, engine=EngineSpec(clauses=False))
    assert job.options_fingerprint()["clauses"] is False
    code, _, err = run(capsys, "translate", "--model", str(tiny_bundle), "--no-clauses", "--server", "host:1", long)
    assert code == 2 and "--no-clauses: not with --server" in err


def test_a_dash_means_stdin_and_stdout(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    src = tmp_path / "in.txt"
    src.write_text("red dog runs\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "translate", "--model", str(tiny_bundle), "--quiet", "-i", str(src), "-o", "-")
    assert code == 0 and out == "runs dog red\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("red dog runs\n"))
    code, out, _ = run(capsys, "translate", "--model", str(tiny_bundle), "-i", "-", "-o", "-")
    assert code == 0 and out == "runs dog red\n"
    assert not (tmp_path / "-").exists()


def test_a_failure_inside_the_engine_is_one_line_unless_verbose(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Torch or ONNX Runtime failing at run time (here torch's allocator, as on a batch too
    big for the machine) is one `error:` line with exit code 1; -v shows the stack trace."""

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:118] data.\nDefaultCPUAllocator: not enough memory")

    monkeypatch.setattr("translator.torch_engine.TorchEngine.decode_step", fail)
    code, out, err = run(capsys, "translate", "--model", str(tiny_bundle), "--engine", "torch", "red dog runs")
    assert code == 1 and out == ""
    assert err.strip().splitlines()[-1] == (
        "error: RuntimeError: DefaultCPUAllocator: not enough memory (unexpected; rerun with -v for the stack trace)"
    )
    assert "Traceback" not in err
    with pytest.raises(RuntimeError, match="not enough memory"):
        main(["-v", "translate", "--model", str(tiny_bundle), "--engine", "torch", "red dog runs"])
