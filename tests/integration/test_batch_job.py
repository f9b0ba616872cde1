"""`translator translate -i IN -o OUT` batch jobs on the tiny bundle (reverses word order).

Every job runs with `--threads 1`. The reference is one uninterrupted in-process
run; killed-and-resumed runs, 2 workers and a real server must give the same bytes.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from translator.cli import main
from translator.config import TRANSLATION_RULES

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
JOB = ("--window", "64", "--beam", "2", "--threads", "1")  # the options of the big-file jobs


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def direct(bundle: Path, texts: list[str], beam: int = 2) -> list[str]:
    from translator.inference import Translator

    return [r.text for r in Translator(bundle, threads=1).translate(texts, beam_size=beam)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 lines of the reverse task with a blank line every 97 lines."""
    from helpers import reverse_task

    src, _ = reverse_task(2000, seed=11)
    lines = ["" if n % 97 == 5 else s for n, s in enumerate(src)]
    path = tmp_path_factory.mktemp("corpus") / "in.txt"
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def reference(tiny_bundle: Path, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """One uninterrupted run of the big job."""
    out = tmp_path_factory.mktemp("ref") / "out.txt"
    assert main(["translate", "--model", str(tiny_bundle), "-i", str(corpus), "-o", str(out), *JOB, "--quiet"]) == 0
    assert not out.with_name("out.txt.job").exists()  # the journal is removed after success
    return out.read_bytes()


def test_order_restored_with_a_small_window(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path
) -> None:
    from helpers import reverse_task

    src, _ = reverse_task(150, seed=3)
    texts = [*src[:40], "", "   ", *src[40:]]
    inp = tmp_path / "in.txt"
    inp.write_text("".join(t + "\n" for t in texts))
    expected = "".join(t + "\n" for t in direct(tiny_bundle, texts))
    assert expected.split("\n")[40:42] == ["", ""]
    code, out, err = run(capsys, "translate", "--model", str(tiny_bundle), "-i", str(inp), "--window", "23",
                         "--beam", "2", "--threads", "1")  # fmt: skip
    assert code == 0 and out == expected  # stdout, windows in order
    assert "done: 152 lines" in err and "2 empty" in err
    code, _, err = run(capsys, "translate", "--model", str(tiny_bundle), "-i", str(inp), "-o", str(tmp_path / "o"),
                       "--window", "23", "--beam", "2", "--threads", "1", "--quiet")  # fmt: skip
    assert code == 0 and err == "" and (tmp_path / "o").read_text() == expected


def test_jsonl_ids_pass_through_fields_and_gzip(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path
) -> None:
    records = [
        {"id": "a", "src": "red dog runs", "meta": {"n": 1}},
        {"src": "the big cat sits", "lang": "en"},
        {"id": 7, "src": ""},
    ]
    lines = [json.dumps(r) for r in records]
    lines.insert(2, "")
    inp = tmp_path / "in.jsonl.gz"
    inp.write_bytes(gzip.compress("".join(line + "\n" for line in lines).encode()))
    out = tmp_path / "out.jsonl.gz"
    code, _, _ = run(capsys, "translate", "--model", str(tiny_bundle), "-i", str(inp), "-o", str(out),
                     "--format", "jsonl", "--text-field", "src", "--output-field", "fr", "--window", "2",
                     "--beam", "2", "--threads", "1")  # fmt: skip
    assert code == 0
    got = gzip.decompress(out.read_bytes()).decode().split("\n")
    assert len(got) == 5 and got[2] == "" and got[4] == ""
    fr = direct(tiny_bundle, ["red dog runs", "the big cat sits"])
    assert json.loads(got[0]) == {"id": "a", "src": "red dog runs", "meta": {"n": 1}, "fr": fr[0]}
    assert json.loads(got[1]) == {"id": 2, "src": "the big cat sits", "lang": "en", "fr": fr[1]}  # id: line number
    assert json.loads(got[3]) == {"id": 7, "src": "", "fr": ""}
    assert fr[0] == "runs dog red"

    # --score-field: each translation's score, as the library gives it
    code, _, _ = run(capsys, "translate", "--model", str(tiny_bundle), "-i", str(inp), "-o", str(out), "--restart",
                     "--format", "jsonl", "--text-field", "src", "--output-field", "fr", "--score-field", "score",
                     "--window", "2", "--beam", "2", "--threads", "1", "--quiet")  # fmt: skip
    from translator.inference import Translator

    scores = [r.score for r in Translator(tiny_bundle, threads=1).translate(["red dog runs", "the big cat sits"],
                                                                             beam_size=2)]  # fmt: skip
    got = gzip.decompress(out.read_bytes()).decode().split("\n")
    assert code == 0 and [json.loads(got[n])["score"] for n in (0, 1, 3)] == [round(scores[0], 4),
                                                                             round(scores[1], 4), 0.0]  # fmt: skip
    assert json.loads(got[0])["fr"] == fr[0] and scores[0] < 0


def test_empty_overlong_and_invalid_lines(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path
) -> None:
    # 13 tokens, 7 + 6 (a "." before a lowercase word is not a sentence end for the splitter; "?" is)
    two_sentences = "big cat sits on the man? the boy jumps in the dog"
    no_punctuation = "red dog runs on the big cat sits on the man"  # 11 tokens: 8 + 3 words
    inp = tmp_path / "in.txt"
    inp.write_text(f"red dog runs\n\n{two_sentences}\n{no_punctuation}\nthe boy sits\n")
    base = ["translate", "--model", str(tiny_bundle), "-i", str(inp), "--max-input-tokens", "8", "--beam", "2",
            "--threads", "1", "--window", "2"]  # fmt: skip
    pieces = direct(tiny_bundle, ["red dog runs", "big cat sits on the man?", "the boy jumps in the dog",
                                  "red dog runs on the big cat sits", "on the man", "the boy sits"])  # fmt: skip
    code, out, err = run(capsys, *base)  # --overlong split (default)
    assert code == 0
    assert out.split("\n") == [pieces[0], "", f"{pieces[1]} {pieces[2]}", f"{pieces[3]} {pieces[4]}", pieces[5], ""]
    assert "1 empty, 2 overlong split, 0 overlong skipped" in err

    code, out, err = run(capsys, *base, "--overlong", "skip")
    assert code == 0 and out.split("\n") == [pieces[0], "", "", "", pieces[5], ""]
    assert "2 overlong skipped" in err

    code, out, err = run(capsys, *base, "--overlong", "refuse", "-o", str(tmp_path / "o.txt"))
    assert code == 2 and "line 3 is 13 tokens long; the limit is max_input_tokens=8" in err
    assert not (tmp_path / "o.txt").exists()

    inp.write_bytes(b"red dog runs\n\nthe \xff cat\nthe boy sits\n")
    code, out, err = run(capsys, *base)
    assert code == 2 and "invalid UTF-8 on line 3" in err and "Traceback" not in err
    code, out, err = run(capsys, *base, "--errors", "replace")
    assert code == 0 and len(out.split("\n")) == 5 and out.split("\n")[3] == pieces[5]
    assert "1 with invalid UTF-8 replaced" in err


def test_changed_input_or_options_are_refused_on_resume(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path
) -> None:
    from helpers import reverse_task

    src, _ = reverse_task(60, seed=4)
    src[44] = "red dog runs on the big cat sits on the man"  # line 45: over the limit of 8
    inp, out = tmp_path / "in.txt", tmp_path / "out.txt"
    inp.write_text("".join(s + "\n" for s in src))
    base = ["translate", "--model", str(tiny_bundle), "-i", str(inp), "-o", str(out), "--max-input-tokens", "8",
            "--beam", "1", "--threads", "1", "--window", "10", "--quiet"]  # fmt: skip
    code, _, err = run(capsys, *base, "--overlong", "refuse")
    assert code == 2 and "line 45 is 11 tokens long" in err
    journal = tmp_path / "out.txt.job"
    assert len(list(journal.glob("*.done"))) == 4 and not out.exists()  # windows 1-4 committed

    code, _, err = run(capsys, *base, "--overlong", "split")
    assert code == 2 and "option overlong: 'refuse' -> 'split'" in err and "--restart" in err
    code, _, err = run(capsys, *base, "--overlong", "refuse", "--beam", "2")
    assert code == 2 and "option beam_size: 1 -> 2" in err
    record = journal / "job.json"  # a job begun by an older translator, under other rules
    begun = json.loads(record.read_text())
    assert begun["rules"] == TRANSLATION_RULES
    record.write_text(json.dumps({**begun, "rules": TRANSLATION_RULES - 1}))
    code, _, err = run(capsys, *base, "--overlong", "refuse")
    assert code == 2 and f"rules changed (version {TRANSLATION_RULES - 1} -> {TRANSLATION_RULES})" in err
    assert "Finish it with the translator version that began it" in err
    record.write_text(json.dumps(begun))
    inp.write_text("".join(s + "\n" for s in ["a", *src[1:]]))
    code, _, err = run(capsys, *base, "--overlong", "refuse")
    assert code == 2 and "the input file changed" in err

    code, _, err = run(capsys, *base, "--overlong", "split", "--restart")
    assert code == 0 and len(out.read_text().split("\n")) == 61 and not journal.exists()


def _cli(bundle: Path, corpus: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "translator.cli", "translate", "--model", str(bundle), "-i", str(corpus),
            "-o", str(out), *JOB, *extra]  # fmt: skip


def _kill_when(proc: subprocess.Popen[bytes], journal: Path, committed: int, delay: float = 0.0) -> bool:
    """SIGKILL `proc` `delay` s after `committed` windows are in the journal; False if it ended first."""
    deadline = time.monotonic() + 120
    while len(list(journal.glob("*.done"))) < committed:
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def test_kill_and_resume_is_byte_identical(tiny_bundle: Path, corpus: Path, reference: bytes, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    journal = tmp_path / "out.txt.job"
    cmd = _cli(tiny_bundle, corpus, out, "--quiet")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    # 1. SIGKILL once the journal shows progress
    assert _kill_when(subprocess.Popen(cmd, env=env, cwd=ROOT), journal, 3), "the job ended before it was killed"
    committed = len(list(journal.glob("*.done")))
    assert 3 <= committed < 32 and not out.exists()

    # 2. SIGKILL at a random point: after a random number of windows (32 = during the final assembly)
    # and a random delay, so it lands anywhere: mid-window, between a chunk and its commit record, ...
    rng = random.Random()
    target, delay = rng.randint(committed, 32), rng.uniform(0, 0.05)
    _kill_when(subprocess.Popen(cmd, env=env, cwd=ROOT), journal, target, delay)
    assert out.exists() or len(list(journal.glob("*.done"))) >= committed  # nothing committed was lost

    # 3. the same command finishes the job
    resuming = journal.exists()  # else run 2 finished before the kill
    done = subprocess.run(_cli(tiny_bundle, corpus, out), env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == reference, f"random kill after {target} windows + {delay:.3f} s"
    assert not journal.exists()
    assert "done: 2000 lines" in done.stderr
    assert ("resumed from an earlier run" in done.stderr) == resuming


def test_two_workers_give_identical_output(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, corpus: Path, reference: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "out.txt"
    code, _, err = run(capsys, "translate", "--model", str(tiny_bundle), "-i", str(corpus), "-o", str(out), *JOB,
                       "--workers", "2")  # fmt: skip
    assert code == 0, err
    assert out.read_bytes() == reference


# -- remote mode -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tiny_bundle: Path) -> Iterator[str]:
    """A real gRPC server on a free port, in a background event loop."""
    from server import ServerConfig, create_app

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def call(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

    cfg = ServerConfig(model=str(tiny_bundle), host="127.0.0.1", port=0, metrics_port=-1, threads=1,
                       max_wait_ms=2.0, stream_max_in_flight=32, warmup_text="red dog", log_format="text")  # fmt: skip
    app = call(create_app(cfg))
    assert call(app.wait_ready(60)), app.load_error
    yield f"127.0.0.1:{app.port}"
    call(app.shutdown(0))
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_remote_job_gives_identical_output(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, corpus: Path, reference: bytes, server: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.txt"
    code, _, err = run(capsys, "translate", "--server", server, "--model", str(tiny_bundle), "-i", str(corpus),
                       "-o", str(out), *JOB, "--workers", "2", "--max-in-flight", "16")  # fmt: skip
    assert code == 0, err
    assert out.read_bytes() == reference

    # JSONL with scores: the server's are its own computation (its batches), float32 on the wire
    inp = tmp_path / "in.jsonl"
    texts = corpus.read_text().splitlines()[:40]
    inp.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    jobs = {}
    for mode, extra in (("local", []), ("remote", ["--server", server])):
        out = tmp_path / f"{mode}.jsonl"
        code, _, err = run(capsys, "translate", "--model", str(tiny_bundle), "-i", str(inp), "-o", str(out), *extra,
                           "--format", "jsonl", "--score-field", "score", *JOB, "--quiet")  # fmt: skip
        assert code == 0, err
        jobs[mode] = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["translation"] for r in jobs["remote"]] == [r["translation"] for r in jobs["local"]]
    assert all(abs(r["score"] - q["score"]) < 1e-3 for r, q in zip(jobs["remote"], jobs["local"], strict=True))
    assert sum(r["score"] < 0 for r in jobs["local"]) == sum(bool(t.strip()) for t in texts)

    other = tmp_path / "other-bundle"  # a different local tokenizer bundle is refused
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"format_version": 1, "name": "other", "files": {}}))
    (other / "spm.model").write_bytes((tiny_bundle / "spm.model").read_bytes())
    code, _, err = run(capsys, "translate", "--server", server, "--model", str(other), "-i", str(corpus),
                       "-o", str(out), "--quiet")  # fmt: skip
    assert code == 2 and "pass --model with the server's bundle" in err


def test_a_remote_job_records_the_server_rules(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, server: str, tmp_path: Path
) -> None:
    from helpers import reverse_task

    src, _ = reverse_task(30, seed=5)
    src[24] = "red dog runs on the big cat sits on the man"  # line 25: over the limit of 8
    inp, out = tmp_path / "in.txt", tmp_path / "out.txt"
    inp.write_text("".join(s + "\n" for s in src))
    base = ["translate", "--server", server, "--model", str(tiny_bundle), "-i", str(inp), "-o", str(out),
            "--max-input-tokens", "8", "--beam", "1", "--window", "10", "--overlong", "refuse", "--quiet"]  # fmt: skip
    code, _, err = run(capsys, *base)
    assert code == 2 and "line 25 is 11 tokens long" in err
    record = out.with_name("out.txt.job") / "job.json"
    begun = json.loads(record.read_text())
    assert begun["rules"] == TRANSLATION_RULES  # the server's, from its model info
    assert set(begun["model"]) == {"server_model_info_sha256"}
    record.write_text(json.dumps({**begun, "rules": None}))  # begun through a server that did not say
    code, _, err = run(capsys, *base)
    assert code == 2 and f"rules changed (version unknown -> {TRANSLATION_RULES})" in err


# -- input errors, output paths, stdout and --quiet --------------------------------------------
def _small_job(bundle: Path, inp: Path, *extra: str) -> list[str]:
    return ["translate", "--model", str(bundle), "-i", str(inp), "--max-input-tokens", "8", "--beam", "1",
            "--threads", "1", "--window", "2", "--quiet", *extra]  # fmt: skip


def test_an_input_error_leaves_no_journal_and_the_corrected_rerun_runs(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path
) -> None:
    inp, out = tmp_path / "lng.txt", tmp_path / "L.txt"
    inp.write_text("red dog runs on the big cat sits on the man\nthe boy sits\n")  # line 1: 11 tokens > 8
    code, _, err = run(capsys, *_small_job(tiny_bundle, inp, "-o", str(out), "--overlong", "refuse"))
    assert code == 2 and "line 1 is 11 tokens long" in err
    assert not out.with_name("L.txt.job").exists() and not out.exists()
    code, _, err = run(capsys, *_small_job(tiny_bundle, inp, "-o", str(out), "--overlong", "skip"))
    assert code == 0, err
    assert out.read_text().split("\n")[0] == "" and not out.with_name("L.txt.job").exists()

    bad, jout = tmp_path / "bj.jsonl", tmp_path / "J.jsonl"
    bad.write_text('{"text":"red dog runs"}\nnot json\n')
    code, _, err = run(capsys, *_small_job(tiny_bundle, bad, "-o", str(jout), "--format", "jsonl"))
    assert code == 2 and "line 2 is not valid JSON" in err
    assert not jout.with_name("J.jsonl.job").exists() and not jout.exists()
    bad.write_text('{"text":"red dog runs"}\n{"text":"the boy sits"}\n')
    code, _, err = run(capsys, *_small_job(tiny_bundle, bad, "-o", str(jout), "--format", "jsonl"))
    assert code == 0, err
    assert len(jout.read_text().splitlines()) == 2


def test_the_output_directory_must_exist_and_be_writable(
    capsys: pytest.CaptureFixture[str], tiny_bundle: Path, tmp_path: Path
) -> None:
    inp = tmp_path / "in.txt"
    inp.write_text("red dog runs\n")
    missing = tmp_path / "nonexistent_dir"
    code, _, err = run(capsys, *_small_job(tiny_bundle, inp, "-o", str(missing / "out.txt")))
    assert code == 2 and "does not exist" in err and str(missing) in err
    assert not missing.exists()  # never created
    for target in ("/sys/out.txt", "/proc/out.txt"):
        code, _, err = run(capsys, *_small_job(tiny_bundle, inp, "-o", target))
        assert code == 2 and err.startswith("error: ") and "Traceback" not in err, err
        assert not Path(target + ".job").exists()


def test_a_closed_stdout_ends_the_job_quietly(tiny_bundle: Path, tmp_path: Path) -> None:
    inp, errfile = tmp_path / "in.txt", tmp_path / "err.txt"
    inp.write_text("red dog runs\n" * 400)
    cmd = [sys.executable, "-m", "translator.cli", *_small_job(tiny_bundle, inp, "--window", "1")]
    with errfile.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        proc.stdout.readline()
        proc.stdout.close()  # as `| head -1` does
        proc.wait(timeout=120)
    assert "Traceback" not in errfile.read_text() and "BrokenPipe" not in errfile.read_text()
    assert proc.returncode != 0


def test_quiet_silences_the_jobs_info_logs(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, tiny_bundle: Path, tmp_path: Path
) -> None:
    import logging

    inp, out = tmp_path / "in.txt", tmp_path / "out.txt"
    inp.write_text("red dog runs\nthe boy sits\nred dog runs on the big cat sits on the man\n")  # line 3 over 8
    argv = _small_job(tiny_bundle, inp, "-o", str(out), "--overlong", "refuse")
    assert run(capsys, *argv)[0] == 2  # window 1 committed, the journal is kept
    assert out.with_name("out.txt.job").is_dir()
    caplog.set_level(logging.INFO, logger="translator")
    caplog.clear()
    assert run(capsys, *argv)[0] == 2
    assert "resuming" not in caplog.text
    assert run(capsys, *[a for a in argv if a != "--quiet"])[0] == 2
    assert "resuming" in caplog.text
