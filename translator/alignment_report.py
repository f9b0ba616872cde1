"""A self-contained HTML report of word alignments (`translator align --plot DIR`).

    from translator.align import align
    from translator.alignment_report import write_report

    alignments = align(tr, sources, targets, return_raw_attention=True)
    write_report(alignments, "out/index.html")

The page has no external resources: the CSS and the JavaScript are inline
(`translator/templates/alignment_report.html`) and the data is embedded as JSON.
For each pair it draws a heatmap (an HTML table: one row per target word, one
column per source word) of the word-level attention, with the hard links boxed.
Two selectors switch the heat of every heatmap between the attention the links
were computed from (the `layer`/`head` of the `align` call), the mean of all
layers, or one layer, and between the mean of the heads and one head. The links
themselves do not change with the selectors. Hovering a word (in the heatmap or
in the sentences above it) highlights it and the words it is linked to; hovering a
cell highlights its source and target words and shows the value.

The data per pair (`pair_data`):

- `selected`: the matrix the links come from (`Alignment.attention`);
- `heads[l][h]`: word-level attention of layer l, head h, i.e. `merge_subwords`
  applied to that (layer, head) slice of the raw piece-level tensor, each target
  word's row renormalised over the source words (as `align` does);
- `mass[l][h][t]`: the share of that row's attention on the source words (not on
  the source EOS) before the renormalisation.

Matrices are stored in thousandths (integers 0..1000, i.e. rounded to 3
decimals). Since the subword merging is linear, the page computes a mean over
several layers/heads exactly as `select_attention` + `merge_subwords` would: the
mass-weighted mean of the renormalised rows (`combine_heads` is the Python
reference of that computation).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from translator.align import Alignment, Head, Layer, merge_subwords, resolve_layers
from translator.bundle import atomic_write_bytes
from translator.errors import TranslatorError

TEMPLATE = "alignment_report.html"
SCALE = 1000  # matrices are stored in thousandths


def head_word_attention(alignment: Alignment) -> tuple[Tensor, Tensor]:
    """Word-level attention of every decoder layer and head of one aligned pair.

    Returns (`words`, `mass`): `words` is (L, nh, target words, source words),
    each row renormalised to sum to 1 over the source words (all-zero rows stay 0);
    `mass` is (L, nh, target words), the row sums before renormalisation. Needs the
    raw tensor: `align(..., return_raw_attention=True)`.
    """
    raw = alignment.raw_attention
    if raw is None:
        raise TranslatorError("the per-head attention needs align(..., return_raw_attention=True)")
    words = merge_subwords(
        raw,
        alignment.source_tokens,
        alignment.target_tokens,
        alignment.source_words,
        alignment.target_words,
        renormalize=False,
    )
    mass = words.sum(dim=-1)
    norm = torch.where(mass.unsqueeze(-1) > 0, words / mass.unsqueeze(-1).clamp(min=1e-12), words)
    return norm, mass


def combine_heads(words: Tensor, mass: Tensor, layers: Sequence[int], heads: Sequence[int]) -> Tensor:
    """The mean over `layers` x `heads` of per-head word attention, renormalised per row.

    Equal to `merge_subwords(select_attention(raw, layers, head))` for the mean of
    heads (or one head): the mass-weighted mean of the renormalised rows. The page's
    JavaScript does the same computation on the rounded data.
    """
    w = words[list(layers)][:, list(heads)]  # (l, h, T, S)
    m = mass[list(layers)][:, list(heads)].unsqueeze(-1)  # (l, h, T, 1)
    total = m.sum(dim=(0, 1))
    weighted = (w * m).sum(dim=(0, 1))
    plain = w.mean(dim=(0, 1))
    return torch.where(total > 0, weighted / total.clamp(min=1e-12), plain)


def _thousandths(x: Tensor) -> list[Any]:
    return (x * SCALE).round().to(torch.int64).tolist()


def selection_info(layer: Layer, head: Head, n_layers: int, n_heads: int | None = None) -> dict[str, Any]:
    """The layers (0-based) and the head ("mean" or 0-based; negative counts from the end
    with `n_heads`) the links were computed from, and labels."""
    if n_layers == 0:  # no pairs
        return {"layers": [], "head": "mean", "label": "", "layers_label": ""}
    layers = resolve_layers(layer, n_layers)
    head_value: int | str = "mean" if head is None or head in ("mean", "all") else int(head)
    if isinstance(head_value, int) and n_heads:
        head_value %= n_heads
    if len(layers) == n_layers and n_layers > 1:
        where = "mean of all layers"
    elif len(layers) == 1:
        where = f"layer {layers[0] + 1}"
    else:
        where = "mean of layers " + ", ".join(str(x + 1) for x in layers)
    what = "mean of heads" if head_value == "mean" else f"head {int(head_value) + 1}"
    return {"layers": layers, "head": head_value, "label": f"{where}, {what}", "layers_label": where}


def pair_data(alignment: Alignment) -> dict[str, Any]:
    """The JSON record of one pair (see the module docstring)."""
    words, mass = head_word_attention(alignment)
    return {
        "source_words": alignment.source_words,
        "target_words": alignment.target_words,
        "links": [[i, j, round(s, 3)] for i, j, s in alignment.links],
        "pharaoh": alignment.pharaoh(),
        "selected": _thousandths(alignment.attention),
        "heads": _thousandths(words),
        "mass": mass.mul(10000).round().div(10000).tolist(),
    }


def _model_shape(alignments: Sequence[Alignment]) -> tuple[int, int]:
    """(decoder layers, heads) from the raw attention; (0, 0) without alignments."""
    if not alignments:
        return 0, 0
    raw = alignments[0].raw_attention
    if raw is None:
        raise TranslatorError("the report needs align(..., return_raw_attention=True)")
    return int(raw.shape[0]), int(raw.shape[1])


def report_data(
    alignments: Sequence[Alignment],
    *,
    layer: Layer = None,
    head: Head = "mean",
    method: str = "",
    title: str = "Word alignments",
) -> dict[str, Any]:
    """Everything the page shows, as one JSON-able dict."""
    n_layers, n_heads = _model_shape(alignments)
    pairs = []
    for a in alignments:
        if a.raw_attention is None or tuple(a.raw_attention.shape[:2]) != (n_layers, n_heads):
            raise TranslatorError("every alignment needs its raw attention, from the same model")
        pairs.append(pair_data(a))
    return {
        "title": title,
        "method": method,
        "layers": n_layers,
        "heads": n_heads,
        "scale": SCALE,
        "selection": selection_info(layer, head, n_layers, n_heads),
        "pairs": pairs,
    }


def _embed_json(data: dict[str, Any]) -> str:
    """JSON that is safe inside <script type="application/json">: no "<" can close the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_report(data: dict[str, Any]) -> str:
    """The HTML page for `report_data(...)`."""
    template = resources.files("translator").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")
    return template.replace("__TITLE__", html.escape(str(data.get("title", "")))).replace(
        "__ALIGNMENT_DATA__", _embed_json(data)
    )


def write_report(
    alignments: Sequence[Alignment],
    path: str | Path,
    *,
    layer: Layer = None,
    head: Head = "mean",
    method: str = "",
    title: str = "Word alignments",
) -> Path:
    """Write the self-contained HTML report of `alignments` (made with `return_raw_attention=True`)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    page = render_report(report_data(alignments, layer=layer, head=head, method=method, title=title))
    atomic_write_bytes(out, page.encode("utf-8"))
    return out


def write_pictures(
    alignments: Sequence[Alignment],
    out_dir: str | Path,
    *,
    layer: Layer = None,
    head: Head = "mean",
    method: str = "",
) -> list[Path]:
    """`translator align --plot DIR`: a heatmap PNG per pair (`pair-0001.png`, ...) and `index.html`."""
    from translator.plot import write_plots

    directory = Path(out_dir)
    if directory.exists() and not directory.is_dir():
        raise TranslatorError(f"--plot: {directory} exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    label = f"{selection_info(layer, head, *_model_shape(alignments))['label']}; {method}".strip("; ")
    paths = write_plots(alignments, directory, subtitle=label)
    paths.append(write_report(alignments, directory / "index.html", layer=layer, head=head, method=method))
    return paths
