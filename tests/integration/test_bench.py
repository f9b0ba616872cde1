"""`translator bench` on the tiny bundle: report structure, ratios against ct2-int8, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("ctranslate2")

from helpers import reverse_task, write_gz

from translator.bundle import MANIFEST
from translator.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    src, ref = reverse_task(12, seed=21)
    write_gz(tmp_path / "data" / "test_2016_flickr.en.gz", src)
    write_gz(tmp_path / "data" / "test_2016_flickr.fr.gz", ref)
    return tmp_path / "data"


def test_bench_writes_report_with_ratios_against_ct2_int8(
    tiny_bundle: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest_before = (tiny_bundle / MANIFEST).read_bytes()
    prefix = tmp_path / "reports" / "bench"
    argv = ["bench", "--model", str(tiny_bundle), "--data", str(data_dir), "--limit", "8", "--repeats", "1",
            "--threads", "1", "--engines", "torch,ort-int8", "--settings", "greedy-b1,beam5-b32",
            "--scale-lengths", "5,20", "--scale-inputs", "2",
            "--work", str(tmp_path / "work"), "--out", str(prefix)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    report = json.loads(Path(f"{prefix}.json").read_text())
    assert out == Path(f"{prefix}.md").read_text() + "\n"

    engines, settings = ["torch", "ort-int8", "ct2-int8"], ["beam5-b32", "greedy-b1"]
    assert report["config"]["engines"] == engines  # the baseline is always added
    assert report["config"]["settings"] == settings and report["config"]["sentences"] == 8
    assert report["command"].startswith("translator bench --model ")
    assert report["machine"]["cpu"] and "torch" in report["machine"]["versions"]
    for engine in engines:
        for setting in settings:
            r = report["results"][engine][setting]
            assert r["sentences_per_s"] > 0 and r["tokens_per_s"] > 0 and 0 <= r["bleu"] <= 100.001
            assert r["pct_of_flop_bound"] > 0 and len(r["seconds"]) == 1
            assert ("p50_ms" in r) == (setting == "greedy-b1")
        assert report["memory"][engine]["peak_rss_mb"] >= report["memory"][engine]["import_rss_mb"] > 0
    for setting in settings:
        assert set(report["ratios"][setting]) == set(engines)
        assert report["ratios"][setting]["ct2-int8"] == 1.0
        assert report["limit"]["settings"][setting]["bound_tokens_per_s"]["fp32"] > 0
    assert report["limit"]["peak_gflops"]["fp32"] > 0 and report["limit"]["peak_gflops"]["int8"] > 0
    assert report["results"]["torch"]["greedy-b1"]["bleu"] > 50  # the tiny model reverses words well
    assert set(report["scaling"]) == {"torch", "ort-int8"}  # CTranslate2 is not in the scaling test
    rows = report["scaling"]["torch"]
    assert [r["length"] for r in rows] == ["~5 tok", "~20 tok"]
    assert rows[1]["source_tokens"] > rows[0]["source_tokens"]
    assert 0 < rows[0]["attention_flop_share"] < rows[1]["attention_flop_share"] < 1
    assert "| ct2-int8 | greedy-b1 |" in out and "## Scaling" in out

    # the user's bundle is untouched: ONNX graphs went into a copy in --work
    assert (tiny_bundle / MANIFEST).read_bytes() == manifest_before and not (tiny_bundle / "onnx").exists()
    assert Path(report["config"]["model_dirs"]["ort-int8"]).parent == tmp_path / "work"


def test_clear_errors(tiny_bundle: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["--model", str(tmp_path / "none"), "--data", str(data_dir)], "model directory not found"),
        (["--model", str(tiny_bundle), "--data", str(tmp_path / "nodata")], "test set not found"),
        (["--model", str(tiny_bundle), "--data", str(data_dir), "--engines", "tensorrt"], "unknown engine tensorrt"),
        (["--model", str(tiny_bundle), "--data", str(data_dir), "--settings", "beam9"], "unknown setting beam9"),
    ]
    for args, message in cases:
        assert main(["bench", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_an_onnx_copy_of_an_older_graph_format_is_exported_again(tiny_bundle: Path, tmp_path: Path) -> None:
    from translator.bench import onnx_bundle
    from translator.onnx_export import GRAPH_FORMAT

    work = tmp_path / "work"
    copy = onnx_bundle(tiny_bundle, work, ["fp32"])
    manifest = json.loads((copy / MANIFEST).read_text())
    assert manifest["onnx"]["graph_format"] == GRAPH_FORMAT
    manifest["onnx"]["graph_format"] = GRAPH_FORMAT - 1
    (copy / MANIFEST).write_text(json.dumps(manifest))
    assert onnx_bundle(tiny_bundle, work, ["fp32"]) == copy
    assert json.loads((copy / MANIFEST).read_text())["onnx"]["graph_format"] == GRAPH_FORMAT
