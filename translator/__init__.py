"""English-to-French translation library.

The public API:

    from translator import Translator
    results = Translator().translate(["A dog runs on the beach."], beam_size=5)
    print(results[0].text)
"""

from translator.config import DecodeConfig, ModelConfig
from translator.errors import TranslatorError
from translator.inference import Hypothesis, TranslationResult, Translator

__all__ = ["DecodeConfig", "Hypothesis", "ModelConfig", "TranslationResult", "Translator", "TranslatorError"]
