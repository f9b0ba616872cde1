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
