"""Per-head word attention, the report data, the HTML page and the PNG heatmaps, without a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from translator.align import Alignment, hard_links, merge_subwords, select_attention
from translator.alignment_report import (
    combine_heads,
    head_word_attention,
    render_report,
    report_data,
    selection_info,
    write_pictures,
)
from translator.errors import TranslatorError
from translator.plot import png_name, write_plots

# words split into several pieces, and a "▁"-only piece, as SentencePiece does
SOURCE, SOURCE_PIECES = "the dogs run .", ["▁the", "▁dog", "s", "▁run", "▁", "."]
TARGET, TARGET_PIECES = "les chiens courent .", ["▁les", "▁chi", "ens", "▁cour", "ent", "▁."]


def pieces(text: str) -> list[str]:
    return {SOURCE: SOURCE_PIECES, TARGET: TARGET_PIECES}.get(text) or ["▁" + w for w in text.split()]


def make_alignment(
    seed: int = 0, layers: int = 3, heads: int = 4, source: str = SOURCE, target: str = TARGET
) -> Alignment:
    sp, tp = pieces(source), pieces(target)
    g = torch.Generator().manual_seed(seed)
    raw = torch.randn(layers, heads, len(tp) + 1, len(sp) + 1, generator=g).mul(2.5).softmax(-1)
    sw, tw = source.split(), target.split()
    words = merge_subwords(select_attention(raw, None, "mean"), sp, tp, sw, tw)
    return Alignment(source, target, sw, tw, sp, tp, hard_links(words), words, raw)


def test_head_word_attention_is_merge_subwords_per_slice() -> None:
    a = make_alignment()
    assert a.raw_attention is not None
    words, mass = head_word_attention(a)
    assert words.shape == (3, 4, 4, 4) and mass.shape == (3, 4, 4)
    for layer in range(3):
        for head in range(4):
            want = merge_subwords(a.raw_attention[layer, head], a.source_tokens, a.target_tokens,
                                  a.source_words, a.target_words)  # fmt: skip
            torch.testing.assert_close(words[layer, head], want)
    torch.testing.assert_close(words.sum(-1), torch.ones(3, 4, 4))
    assert bool(((mass > 0) & (mass < 1)).all())  # the source EOS column takes the rest


@pytest.mark.parametrize(
    ("layer", "head", "layers", "heads"),
    [(None, "mean", [1, 2], [0, 1, 2, 3]), ("mean", "mean", [0, 1, 2], [0, 1, 2, 3]), (0, 2, [0], [2]),
     ([0, 2], 1, [0, 2], [1]), (-1, "mean", [2], [0, 1, 2, 3])],
)  # fmt: skip
def test_combine_heads_equals_select_then_merge(
    layer: int | list[int] | str | None, head: int | str, layers: list[int], heads: list[int]
) -> None:
    """The computation the page does for a layer/head view is exactly the one `align` does."""
    a = make_alignment(seed=3)
    assert a.raw_attention is not None
    words, mass = head_word_attention(a)
    want = merge_subwords(select_attention(a.raw_attention, layer, head), a.source_tokens, a.target_tokens,
                          a.source_words, a.target_words)  # fmt: skip
    torch.testing.assert_close(combine_heads(words, mass, layers, heads), want)


def test_report_data_rounds_and_keeps_everything() -> None:
    alignments = [make_alignment(seed=1), make_alignment(seed=2, source="a b", target="x y z")]
    data = report_data(alignments, method="t2s", title="T")
    assert (data["layers"], data["heads"], data["method"], data["title"]) == (3, 4, "t2s", "T")
    assert data["selection"] == {"layers": [1, 2], "head": "mean", "label": "mean of layers 2, 3, mean of heads",
                                 "layers_label": "mean of layers 2, 3"}  # fmt: skip
    p = data["pairs"][1]
    assert p["source_words"] == ["a", "b"] and p["target_words"] == ["x", "y", "z"]
    assert p["pharaoh"] == alignments[1].pharaoh()
    assert [tuple(x[:2]) for x in p["links"]] == [(i, j) for i, j, _ in alignments[1].links]
    assert torch.tensor(p["selected"]).shape == (3, 2)
    torch.testing.assert_close(torch.tensor(p["selected"]) / 1000, alignments[1].attention, atol=5e-4, rtol=0)
    heads = torch.tensor(p["heads"])
    assert (
        heads.shape == (3, 4, 3, 2) and heads.dtype == torch.int64 and 0 <= int(heads.min()) <= int(heads.max()) <= 1000
    )
    assert torch.tensor(p["mass"]).shape == (3, 4, 3)
    json.dumps(data)  # JSON-able


def test_selection_labels() -> None:
    assert selection_info(None, "mean", 6)["label"] == "mean of layers 5, 6, mean of heads"
    assert selection_info("mean", 2, 6)["label"] == "mean of all layers, head 3"
    assert selection_info(-1, "mean", 6) | {} == {"layers": [5], "head": "mean", "label": "layer 6, mean of heads",
                                                 "layers_label": "layer 6"}  # fmt: skip
    assert selection_info(None, "mean", 1)["label"] == "layer 1, mean of heads"
    assert selection_info(0, -1, 2, 4)["head"] == 3 and selection_info(0, -1, 2, 4)["label"] == "layer 1, head 4"


def test_report_needs_raw_attention() -> None:
    a = make_alignment()
    a.raw_attention = None
    with pytest.raises(TranslatorError, match="return_raw_attention=True"):
        head_word_attention(a)
    with pytest.raises(TranslatorError, match="return_raw_attention=True"):
        report_data([a])


def test_page_is_self_contained_and_escapes_the_data() -> None:
    a = make_alignment(source="</script><script>alert(1)</script> &amp; <!--", target="x ]]> y")
    page = render_report(report_data([a], title="<b>mine</b>"))
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>&lt;b&gt;mine&lt;/b&gt;</title>" in page
    assert page.count("</script>") == 2 and page.count("<script") == 2  # only the page's own
    assert "<!--" not in page.split("<body>", 1)[1]
    for needle in ("http://", "https://", "<link", " src=", "@import", "url("):
        assert needle not in page
    start = page.index('id="alignment-data">') + len('id="alignment-data">')
    data = json.loads(page[start : page.index("</script>", start)])
    assert data["pairs"][0]["source_words"] == a.source_words and data["title"] == "<b>mine</b>"


def test_report_of_no_pairs(tmp_path: Path) -> None:
    paths = write_pictures([], tmp_path / "empty")
    assert paths == [tmp_path / "empty" / "index.html"] and "alignment-data" in paths[0].read_text()


def test_write_pictures_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(TranslatorError, match="not a directory"):
        write_pictures([make_alignment()], tmp_path / "f")


def test_png_heatmaps(tmp_path: Path) -> None:
    from matplotlib.image import imread

    small = make_alignment(seed=4, source="a b", target="x y")
    wide = make_alignment(seed=5, source=" ".join(f"w{k}" for k in range(30)), target="x y z")
    paths = write_plots([small, wide], tmp_path, subtitle="layer 3, mean of heads; t2s")
    assert [p.name for p in paths] == ["pair-0001.png", "pair-0002.png"] == [png_name(0), png_name(1)]
    assert png_name(1233) == "pair-1234.png"
    images = [imread(p) for p in paths]
    assert images[1].shape[1] > images[0].shape[1] + 300  # 30 source words make a wider picture
    for image, a in zip(images, [small, wide], strict=True):
        rgb = image[..., :3]
        assert float(rgb.std()) > 0.05
        red = (rgb[..., 0] > 0.7) & (rgb[..., 1] < 0.35) & (rgb[..., 2] < 0.35)
        assert int(red.sum()) > 20 * len(a.links)
