"""Word links as sets of (source word, target word) pairs: the method names, the
symmetrisation of two directions (grow-diag-final-and) and the Pharaoh format.

Plain Python, no model: the statistical baseline (`translator.eflomal_baseline`) and
the command line use it without importing torch; `translator.align` reads links from
the model's cross-attention with it.
"""

from __future__ import annotations

from collections.abc import Sequence

METHODS = ("grow-diag-final-and", "intersection", "union", "t2s", "s2t", "argmax", "threshold")
DEFAULT_METHOD = "grow-diag-final-and"
DEFAULT_THRESHOLD = 0.3
FORMATS = ("pharaoh", "json")

Link = tuple[int, int, float]  # source word, target word, score

_NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def format_pharaoh(links: Sequence[tuple[int, int] | Link]) -> str:
    """`i-j` pairs, 0-based, source first, sorted."""
    return " ".join(f"{link[0]}-{link[1]}" for link in sorted(links, key=lambda x: (x[0], x[1])))


def grow_diag_final_and(t2s: set[tuple[int, int]], s2t: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Koehn et al. (2003) symmetrisation of two directional (source, target) link sets."""
    union = t2s | s2t
    links = t2s & s2t
    src_done = {i for i, _ in links}
    tgt_done = {j for _, j in links}

    def add(p: tuple[int, int]) -> None:
        links.add(p)
        src_done.add(p[0])
        tgt_done.add(p[1])

    if union:
        n_src = max(i for i, _ in union) + 1
        n_tgt = max(j for _, j in union) + 1
        added = True
        while added:  # grow-diag
            added = False
            for i in range(n_src):
                for j in range(n_tgt):
                    if (i, j) not in links:
                        continue
                    for di, dj in _NEIGHBOURS:
                        p = (i + di, j + dj)
                        if p in union and p not in links and (p[0] not in src_done or p[1] not in tgt_done):
                            add(p)
                            added = True
        for direction in (t2s, s2t):  # final-and
            for i, j in sorted(direction):
                if i not in src_done and j not in tgt_done:
                    add((i, j))
    return links
