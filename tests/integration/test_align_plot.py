"""`translator align --plot`: heatmap PNGs and the HTML report, rendered in headless Chromium.

The report is loaded from a file:// URL with `--dump-dom` after its JavaScript has
run; the dumped DOM is parsed and checked against the pairs (words, one cell per
word pair, the link boxes, the selectors). For the interactive part a copy of the
page gets a test script appended that hovers every word and some cells with real
`mouseover`/`mouseout` events, switches the selectors, and writes what the page
shows into a <pre id="test-result"> element of the dumped DOM. The values the page
computes for each layer/head view are compared with `select_attention` +
`merge_subwords` in Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import torch

from translator.align import Alignment, align, hard_links, merge_subwords, select_attention
from translator.alignment_report import write_pictures
from translator.cli import main
from translator.inference import Translator

pytestmark = pytest.mark.integration

N_PAIRS = 6


def find_chromium() -> str | None:
    names = [os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
    return next((path for name in names if name and (path := shutil.which(name))), None)


CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (apt-get install chromium, or set CHROMIUM=/path/to/chrome)"
)


def run_chromium(url: str, *args: str, timeout: float = 120) -> str:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
               "--disable-extensions", "--mute-audio", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
               *args, url]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def dump_dom(page: Path) -> str:
    return run_chromium(page.resolve().as_uri(), "--dump-dom")


class ReportDom(HTMLParser):
    """Collects, from the rendered DOM, per pair: header words, cells and link cells; and the selectors."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pairs: list[dict[str, Any]] = []
        self.options: dict[str, list[str]] = {"layer": [], "head": []}
        self.title = ""
        self.tags: dict[str, int] = {}
        self._text: list[str] | None = None
        self._target: tuple[str, ...] = ()
        self._select = ""
        self._in_thead = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags[tag] = self.tags.get(tag, 0) + 1
        classes = a.get("class", "").split()
        if tag == "section" and "pair" in classes:
            self.pairs.append({"id": a.get("id"), "source": [], "target": [], "cells": [], "links": set()})
        elif tag == "thead":
            self._in_thead = True
        elif tag == "th" and "w" in classes and self.pairs:
            self._text, self._target = [], ("source" if a.get("data-side") == "s" else "target",)
        elif tag == "td" and "cell" in classes:
            s, t = int(a["data-s"]), int(a["data-t"])
            self.pairs[-1]["cells"].append((s, t, float(a["data-v"]), a.get("style", "")))
            if "link" in classes:
                self.pairs[-1]["links"].add((s, t))
        elif tag == "select":
            self._select = a.get("id", "")
        elif tag == "option" and self._select:
            self._text, self._target = [], ("option", self._select)
        elif tag == "h1":
            self._text, self._target = [], ("title",)

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_thead = False
        elif tag == "select":
            self._select = ""
        if self._text is not None and tag in ("th", "option", "h1"):
            text = "".join(self._text)
            if self._target[0] == "option":
                self.options[self._target[1]].append(text)
            elif self._target[0] == "title":
                self.title = text
            else:
                self.pairs[-1][self._target[0]].append(text)
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def parse_dom(dom: str) -> ReportDom:
    parser = ReportDom()
    parser.feed(dom)
    return parser


# The script appended to a copy of the page: real mouse events and selector changes.
PROBE = """
<script>
(function () {
  var out = {words: [], cells: [], views: {}, leftover: -1, errors: [], ready: document.body.dataset.ready || ""};
  function marked(section, cls) {
    return Array.from(section.querySelectorAll("." + cls)).map(function (e) {
      return e.tagName === "TD" ? "c" + e.dataset.s + "-" + e.dataset.t : e.dataset.side + e.dataset.i;
    }).filter(function (x, n, all) { return all.indexOf(x) === n; }).sort();
  }
  function hover(section, e) {
    e.dispatchEvent(new MouseEvent("mouseover", {bubbles: true}));
    var r = {hl: marked(section, "hl"), al: marked(section, "al"), hot: marked(section, "hot"),
             cross: section.querySelectorAll("td.cross").length, info: section.querySelector(".info").textContent};
    e.dispatchEvent(new MouseEvent("mouseout", {bubbles: true}));
    return r;
  }
  try {
    var sections = Array.from(document.querySelectorAll("section.pair"));
    sections.forEach(function (section, k) {
      section.querySelectorAll("table th.w, .sentence .w").forEach(function (e) {
        var r = hover(section, e);
        r.pair = k; r.side = e.dataset.side; r.i = Number(e.dataset.i); r.where = e.tagName;
        out.words.push(r);
      });
      var cells = section.querySelectorAll("td.cell");
      [cells[0], cells[cells.length - 1]].forEach(function (td) {
        var r = hover(section, td);
        r.pair = k; r.s = Number(td.dataset.s); r.t = Number(td.dataset.t); r.v = td.dataset.v;
        out.cells.push(r);
      });
    });
    out.leftover = document.querySelectorAll(".hl, .al, .hot, .cross").length;
    var layer = document.getElementById("layer"), head = document.getElementById("head");
    function grab() {
      return sections.map(function (section) {
        return Array.from(section.querySelectorAll("tbody tr")).map(function (tr) {
          return Array.from(tr.querySelectorAll("td.cell")).map(function (td) { return Number(td.dataset.v); });
        });
      });
    }
    out.views[layer.value + "/" + head.value] = grab();
    VIEWS.forEach(function (v) {
      layer.value = v[0]; layer.dispatchEvent(new Event("change"));
      head.value = v[1]; head.dispatchEvent(new Event("change"));
      out.views[v[0] + "/" + v[1]] = grab();
    });
  } catch (err) {
    out.errors.push(String(err && err.stack || err));
  }
  var pre = document.createElement("pre");
  pre.id = "test-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""
VIEWS = [["mean", "mean"], ["0", "mean"], ["1", "mean"], ["0", "2"], ["1", "3"], ["mean", "1"], ["selected", "0"]]


def probe(page: Path, tmp_path: Path) -> dict[str, Any]:
    copy = tmp_path / "probe.html"
    html = page.read_text(encoding="utf-8")
    assert html.count("</body>") == 1
    copy.write_text(html.replace("</body>", PROBE.replace("VIEWS", json.dumps(VIEWS)) + "</body>"), encoding="utf-8")
    dom = dump_dom(copy)
    start = dom.index('<pre id="test-result">') + len('<pre id="test-result">')
    import html as html_lib

    return json.loads(html_lib.unescape(dom[start : dom.index("</pre>", start)]))


def parse_pharaoh(line: str) -> set[tuple[int, int]]:
    return {(int(i), int(j)) for i, j in (x.split("-") for x in line.split())}


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plotted(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`translator align --plot` on a few reverse-task pairs with the tiny model."""
    from helpers import reverse_task

    src, tgt = reverse_task(N_PAIRS, seed=11)
    tmp = tmp_path_factory.mktemp("align-plot")
    (tmp / "s").write_text("".join(s + "\n" for s in src))
    (tmp / "t").write_text("".join(t + "\n" for t in tgt))
    model = ["--model", str(tiny_bundle), "--engine", "torch", "--threads", "1"]
    files = ["--src", str(tmp / "s"), "--tgt", str(tmp / "t")]
    assert main(["align", *files, "--out", str(tmp / "plain"), *model]) == 0
    assert main(["align", *files, "--out", str(tmp / "hyp"), "--plot", str(tmp / "plots"), *model]) == 0
    return {"src": src, "tgt": tgt, "dir": tmp / "plots", "hyp": tmp / "hyp", "plain": tmp / "plain"}


@pytest.fixture(scope="module")
def translator(tiny_bundle: Path) -> Translator:
    return Translator(tiny_bundle, engine="torch", device="cpu", threads=1)


# --- the files ----------------------------------------------------------------------------
def test_plot_writes_a_png_per_pair_and_one_report(plotted: dict[str, Any]) -> None:
    from matplotlib.image import imread

    directory: Path = plotted["dir"]
    names = sorted(p.name for p in directory.iterdir() if p.name != "index.html")
    assert names == [f"pair-{k:04d}.png" for k in range(1, N_PAIRS + 1)]
    assert (directory / "index.html").is_file()
    # --plot does not change the alignments written
    assert plotted["hyp"].read_text() == plotted["plain"].read_text()
    for k, name in enumerate(names):
        image = imread(directory / name)  # (h, w, 4) floats
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
        rgb = image[..., :3]
        assert float(rgb.std()) > 0.05, f"{name} looks blank"
        red = (rgb[..., 0] > 0.7) & (rgb[..., 1] < 0.35) & (rgb[..., 2] < 0.35)
        n_links = len(plotted["hyp"].read_text().splitlines()[k].split())
        assert int(red.sum()) > 20 * n_links, f"{name}: the link boxes are missing"
        blue = (rgb[..., 2] > rgb[..., 0] + 0.3) & (rgb[..., 2] > 0.3)
        assert int(blue.sum()) > 100, f"{name}: no heat"


def test_report_is_self_contained(plotted: dict[str, Any]) -> None:
    page = (plotted["dir"] / "index.html").read_text(encoding="utf-8")
    for needle in ("http://", "https://", "<link", " src=", "@import", "url("):
        assert needle not in page, needle
    start = page.index('<script type="application/json" id="alignment-data">')
    data = json.loads(page[page.index(">", start) + 1 : page.index("</script>", start)])
    assert [p["source_words"] for p in data["pairs"]] == [s.split() for s in plotted["src"]]
    assert [p["pharaoh"] for p in data["pairs"]] == plotted["hyp"].read_text().splitlines()
    assert (data["layers"], data["heads"]) == (2, 4)
    for p in data["pairs"]:
        assert len(p["heads"]) == 2 and len(p["heads"][0]) == 4
        assert len(p["heads"][1][3]) == len(p["target_words"]) and len(p["heads"][1][3][0]) == len(p["source_words"])
        assert all(isinstance(x, int) and 0 <= x <= 1000 for row in p["selected"] for x in row)


def test_plot_after_translating(capsys: pytest.CaptureFixture[str], plotted: dict[str, Any], tiny_bundle: Path) -> None:
    """Without --tgt the pictures show the model's own translation; --layer/--head pick the links' view."""
    out = plotted["dir"].parent / "translated"
    src = str(plotted["dir"].parent / "s")
    model = ["--model", str(tiny_bundle), "--engine", "torch", "--threads", "1", "--beam", "1"]
    code = main(["align", "--src", src, "--plot", str(out), "--format", "json", "--layer", "0", "--head", "-1", *model])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and len(rows) == N_PAIRS
    page = (out / "index.html").read_text(encoding="utf-8")
    start = page.index('id="alignment-data">') + len('id="alignment-data">')
    data = json.loads(page[start : page.index("</script>", start)])
    assert data["selection"] == {"layers": [0], "head": 3, "label": "layer 1, head 4", "layers_label": "layer 1"}
    assert [p["target_words"] for p in data["pairs"]] == [r["target_words"] for r in rows]
    assert [p["pharaoh"] for p in data["pairs"]] == [r["pharaoh"] for r in rows]
    assert len(list(out.glob("pair-*.png"))) == N_PAIRS


# --- rendered in Chromium -------------------------------------------------------------------
@needs_chromium
def test_report_renders_the_heatmaps_in_chromium(plotted: dict[str, Any]) -> None:
    dom = parse_dom(dump_dom(plotted["dir"] / "index.html"))
    hyp = plotted["hyp"].read_text().splitlines()
    assert dom.title == "Word alignments"
    assert len(dom.pairs) == N_PAIRS
    for k, (pair, s, t) in enumerate(zip(dom.pairs, plotted["src"], plotted["tgt"], strict=True)):
        assert pair["id"] == f"pair-{k + 1}"
        assert pair["source"] == s.split() and pair["target"] == t.split()
        assert len(pair["cells"]) == len(s.split()) * len(t.split())
        assert {(c[0], c[1]) for c in pair["cells"]} == {
            (i, j) for i in range(len(s.split())) for j in range(len(t.split()))
        }
        assert all("background-color: rgb(" in c[3] for c in pair["cells"]), "cells are not painted"
        assert pair["links"] == parse_pharaoh(hyp[k])
        # each row of the default view is a distribution over the source words
        for j in range(len(t.split())):
            assert sum(v for _, tj, v, _ in pair["cells"] if tj == j) == pytest.approx(1.0, abs=0.01)
    assert dom.options["layer"] == ["as the links: mean of all layers", "mean of all layers", "layer 1", "layer 2"]
    assert dom.options["head"] == ["mean of heads", "head 1", "head 2", "head 3", "head 4"]


@needs_chromium
def test_report_hover_and_selectors_in_chromium(
    plotted: dict[str, Any], translator: Translator, tmp_path: Path
) -> None:
    result = probe(plotted["dir"] / "index.html", tmp_path)
    assert result["errors"] == [] and result["ready"] == "1"
    links = [parse_pharaoh(line) for line in plotted["hyp"].read_text().splitlines()]
    n_words = sum(len(s.split()) + len(t.split()) for s, t in zip(plotted["src"], plotted["tgt"], strict=True))
    assert len(result["words"]) == 2 * n_words  # every word: its heatmap header and its span in the sentence
    for r in result["words"]:
        i, pair_links = r["i"], links[r["pair"]]
        if r["side"] == "s":
            aligned = sorted(f"t{j}" for s, j in pair_links if s == i)
            hot = sorted(f"c{i}-{j}" for s, j in pair_links if s == i)
        else:
            aligned = sorted(f"s{s}" for s, j in pair_links if j == i)
            hot = sorted(f"c{s}-{i}" for s, j in pair_links if j == i)
        assert r["hl"] == [f"{r['side']}{i}"], r
        assert r["al"] == aligned, r
        assert r["hot"] == hot, r
        assert r["info"], r
    for r in result["cells"]:
        n_src, n_tgt = len(plotted["src"][r["pair"]].split()), len(plotted["tgt"][r["pair"]].split())
        assert sorted(r["hl"]) == sorted([f"s{r['s']}", f"t{r['t']}"]), r
        assert r["hot"] == [f"c{r['s']}-{r['t']}"] and r["cross"] == n_src + n_tgt - 1, r
        assert r["v"] in r["info"], r
    assert result["leftover"] == 0, "mouseout left highlights behind"

    # every view equals select_attention + merge_subwords on the model's raw attention
    alignments = align(translator, plotted["src"], plotted["tgt"], return_raw_attention=True)
    expected_views = {"selected/mean": (None, "mean")}
    expected_views |= {f"{lv}/{hv}": (None if lv == "selected" else lv if lv == "mean" else int(lv),
                                      hv if hv == "mean" else int(hv)) for lv, hv in VIEWS}  # fmt: skip
    assert set(result["views"]) == set(expected_views)
    for name, (layer, head) in expected_views.items():
        for k, a in enumerate(alignments):
            assert a.raw_attention is not None
            sel = select_attention(a.raw_attention, layer, head)
            want = merge_subwords(sel, a.source_tokens, a.target_tokens, a.source_words, a.target_words)
            got = torch.tensor(result["views"][name][k])
            torch.testing.assert_close(got, want, atol=3e-3, rtol=0, msg=lambda m, n=name, k=k: f"{n} pair {k}: {m}")
    assert result["views"]["0/2"] != result["views"]["1/3"]


@needs_chromium
def test_report_screenshot_is_not_blank(plotted: dict[str, Any], tmp_path: Path) -> None:
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    run_chromium((plotted["dir"] / "index.html").resolve().as_uri(), f"--screenshot={shot}",
                 "--window-size=1000,1200", "--hide-scrollbars")  # fmt: skip
    rgb = imread(shot)[..., :3]
    assert rgb.shape[:2] == (1200, 1000)
    assert float(rgb.std()) > 0.05
    blue = (rgb[..., 2] > rgb[..., 0] + 0.15) & (rgb[..., 0] < 0.8)
    red = (rgb[..., 0] > 0.7) & (rgb[..., 1] < 0.35) & (rgb[..., 2] < 0.35)
    assert int(blue.sum()) > 500, "no heatmap visible"
    assert int(red.sum()) > 100, "no link boxes visible"


def fake_alignment(source: str, target: str, seed: int, layers: int = 2, heads: int = 3) -> Alignment:
    g = torch.Generator().manual_seed(seed)
    sw, tw = source.split(), target.split()
    sp, tp = ["▁" + w for w in sw], ["▁" + w for w in tw]
    raw = torch.randn(layers, heads, len(tp) + 1, len(sp) + 1, generator=g).mul(3).softmax(-1)
    words = merge_subwords(select_attention(raw, None, "mean"), sp, tp, sw, tw)
    return Alignment(source, target, sw, tw, sp, tp, hard_links(words), words, raw)


@needs_chromium
def test_report_shows_markup_like_words_as_text(tmp_path: Path) -> None:
    hostile = [
        fake_alignment("a </script> <b>bold</b> &amp; x", 'un "</script>" & <img src=x> y', seed=1),
        fake_alignment("<!-- c'est -->", "ok ]]> \u2028 é", seed=2),
    ]
    write_pictures(hostile, tmp_path / "out", method="t2s")
    dom_text = dump_dom(tmp_path / "out" / "index.html")
    dom = parse_dom(dom_text)
    assert [p["source"] for p in dom.pairs] == [a.source_words for a in hostile]
    assert [p["target"] for p in dom.pairs] == [a.target_words for a in hostile]
    assert "img" not in dom.tags and "b" not in dom.tags  # the words stayed text
    assert dom.options["head"] == ["mean of heads", "head 1", "head 2", "head 3"]
