"""Heatmap PNGs of word alignments (`translator align --plot DIR`).

One picture per sentence pair: the word-level attention the links were computed
from (`Alignment.attention`, target words x source words) as the heat, source
words along the x axis, target words along the y axis, and every hard link boxed
in red. Drawn with matplotlib's Agg canvas on a `Figure` of its own (no pyplot,
no global state, no display needed).
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

from translator.align import Alignment

CELL_INCHES = 0.28
DPI = 100


def png_name(index: int) -> str:
    """File name of the picture of the pair at 0-based `index`: pair-0001.png, ..."""
    return f"pair-{index + 1:04d}.png"


@functools.cache
def _has_glyph() -> Callable[[str], bool]:
    from matplotlib.font_manager import FontProperties, findfont
    from matplotlib.ft2font import FT2Font

    font = FT2Font(findfont(FontProperties()))
    return lambda c: c.isspace() or font.get_char_index(ord(c)) != 0


def drawable(word: str) -> str:
    """`word` with each character matplotlib's font cannot draw (emoji, CJK with the
    default DejaVu Sans) written as its code point, "U+1F642", instead of an empty box;
    the HTML report shows the characters themselves."""
    has = _has_glyph()
    return "".join(c if has(c) else f"U+{ord(c):04X}" for c in word)


def plot_alignment(alignment: Alignment, path: str | Path, *, title: str = "", dpi: int = DPI) -> Path:
    """Draw one pair's heatmap with its links boxed and save it as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    matrix = alignment.attention.detach().float().cpu().numpy()
    n_tgt, n_src = matrix.shape
    longest_src = max((len(w) for w in alignment.source_words), default=1)
    longest_tgt = max((len(w) for w in alignment.target_words), default=1)
    label_inches = 0.09  # per character of a tick label
    width = max(4.0, n_src * CELL_INCHES + min(longest_tgt, 30) * label_inches + 1.8)
    height = max(3.0, n_tgt * CELL_INCHES + min(longest_src, 30) * label_inches + 1.2)
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0, aspect="equal", interpolation="nearest")
    ax.set_xticks(range(n_src), [drawable(w) for w in alignment.source_words], rotation=90, fontsize=8)
    ax.set_yticks(range(n_tgt), [drawable(w) for w in alignment.target_words], fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("target")
    ax.tick_params(length=0)
    for i, j, _ in alignment.links:
        ax.add_patch(Rectangle((i - 0.5, j - 0.5), 1.0, 1.0, fill=False, edgecolor="#d62728", linewidth=1.6))
    if title:  # from the figure's left edge, wrapped to its width (about 12 characters of 9 pt per inch)
        lines = [textwrap.fill(line, max(int(width * 12), 20)) for line in title.split("\n")]
        fig.suptitle("\n".join(lines), fontsize=9, x=0.02, horizontalalignment="left")
    fig.colorbar(image, ax=ax, shrink=0.6, label="attention")
    out = Path(path)
    fig.savefig(out, format="png")
    return out


def write_plots(alignments: Sequence[Alignment], out_dir: str | Path, *, subtitle: str = "") -> list[Path]:
    """`pair-0001.png`, `pair-0002.png`, ... in `out_dir`, one per alignment; returns the paths."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, a in enumerate(alignments):
        title = f"pair {k + 1}" + (f"\n{subtitle}" if subtitle else "")
        paths.append(plot_alignment(a, directory / png_name(k), title=title))
    return paths
