"""Heatmap labels: characters the plotting font lacks are written as code points."""

from __future__ import annotations

from translator.plot import drawable


def test_labels_the_font_cannot_draw_become_code_points() -> None:
    assert drawable("numéro") == "numéro"
    assert drawable("Łódź,") == "Łódź,"
    assert drawable("a🙂b") == "aU+1F642b"
    assert drawable("東京") == "U+6771U+4EAC"
