"""The commands that need no model start without importing torch (about 2.5 s here)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_the_command_line_and_the_client_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from translator.cli import build_parser\n"
        "import translator.aer, translator.client, translator.eflomal_baseline, translator.links\n"
        "build_parser().parse_args(['translate', '--server', 'localhost:1', 'A dog.'])\n"
        "print(sorted(m for m in ('torch', 'onnxruntime', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_library_names_are_imported_on_first_use() -> None:
    import translator
    from translator.inference import Translator

    assert translator.Translator is Translator
    assert "Translator" in translator.__all__
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        translator.Nope  # noqa: B018
