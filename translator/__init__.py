"""English-to-French translation library.

The public API:

    from translator import Translator
    results = Translator().translate(["A dog runs on the beach."], beam_size=5)
    print(results[0].text)

The names below are imported on first use, so that the commands which need no model
(`translator --help`, `aer`, `translate --server`, ...) do not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from translator.errors import TranslatorError

if TYPE_CHECKING:
    from translator.config import DecodeConfig, ModelConfig
    from translator.inference import Hypothesis, TranslationResult, Translator

_HOMES = {
    "DecodeConfig": "translator.config",
    "ModelConfig": "translator.config",
    "Hypothesis": "translator.inference",
    "TranslationResult": "translator.inference",
    "Translator": "translator.inference",
}
__all__ = ["DecodeConfig", "Hypothesis", "ModelConfig", "TranslationResult", "Translator", "TranslatorError"]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'translator' has no attribute {name!r}")
