"""Typed configs: the model's shape and the decoder's settings.

Every config is a frozen dataclass that rejects unknown keys when loaded, and
is saved as JSON next to the weights it describes.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

from translator.errors import TranslatorError

T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any], *, where: str = "") -> T:
    """Build dataclass `cls` from `data`, rejecting unknown keys by name."""
    if not isinstance(data, dict):
        raise TranslatorError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise TranslatorError(
            f"{where or cls.__name__}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(names))}"
        )
    try:
        obj = cls(**data)
    except TypeError as exc:
        raise TranslatorError(f"{where or cls.__name__}: {exc}") from None
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate()
    return obj


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Shape of the encoder-decoder Transformer.

    The architecture is the pre-norm Transformer that CTranslate2's
    `TransformerSpec` expresses: sinusoidal positions, embeddings scaled by
    sqrt(d_model), one shared vocabulary with tied input/output embeddings,
    ReLU feed-forward layers and a final layer norm on each stack.
    """

    vocab_size: int = 8000
    d_model: int = 256
    n_heads: int = 4
    d_ff: int = 1024
    encoder_layers: int = 3
    decoder_layers: int = 3
    dropout: float = 0.1
    attention_dropout: float = 0.0
    max_positions: int = 1024
    pad_id: int = 0
    unk_id: int = 1
    bos_id: int = 2
    eos_id: int = 3
    # The decoder layer and head whose cross-attention is trained to align (guided
    # alignment, `TrainConfig.alignment_file`); `translator align` uses it by default.
    # None: not trained to align. alignment_head None: the mean over the layer's heads.
    alignment_layer: int | None = None
    alignment_head: int | None = None
    # True: that head was supervised on a pass without the future mask (Garg et al.'s
    # full context; `translator.adapt`), so alignments come from such a pass (torch engine)
    alignment_full_context: bool = False
    # True: that head was also taught to put the target words its guide leaves unaligned
    # on the source EOS (a NULL word, `translator.adapt`): such words get no t2s link
    alignment_null: bool = False

    def validate(self) -> None:
        if self.d_model % self.n_heads:
            raise TranslatorError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        for name in ("vocab_size", "d_model", "n_heads", "d_ff", "encoder_layers", "decoder_layers"):
            if getattr(self, name) <= 0:
                raise TranslatorError(f"ModelConfig.{name} must be positive")
        if self.alignment_layer is not None and not -self.decoder_layers <= self.alignment_layer < self.decoder_layers:
            raise TranslatorError(
                f"alignment_layer {self.alignment_layer} is out of range ({self.decoder_layers} decoder layers)"
            )
        if self.alignment_head is not None and not 0 <= self.alignment_head < self.n_heads:
            raise TranslatorError(f"alignment_head {self.alignment_head} is out of range ({self.n_heads} heads)")

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> ModelConfig:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise TranslatorError(f"model config not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TranslatorError(f"model config {path} is not valid JSON: {exc}") from None
        return from_dict(cls, data, where=str(path))


MAX_LENGTH_PENALTY = 10.0  # beyond this, length ** alpha overflows for long hypotheses
MAX_LENGTH_RATIO = 100.0
# every beam is a row of the decoder's batch: beam 64 over a batch of 32 sentences takes about
# 460 MB with the default model, and an unchecked --beam 100000 was killed for lack of memory
MAX_BEAM_SIZE = 128


# Raised whenever a change makes the same model translate some input differently, so that a
# batch job's journal (which records it) is not finished under other rules than it began with.
# 1: the first journalled rules; 2: runs of pieces blocked from repeating, long sentences
# translated clause by clause; 3: questions (yes/no; where, why, how, when) translated as
# statements and asked with "Est-ce que" (`translator.questions`); 4: "who" and "what"
# questions asked with "Qui" and "Qu'est-ce que" / "Avec quoi est-ce que", "where is", "who
# is" and "what color is" + a noun phrase with "Où est" + its translation, "how many ... are
# there" with "Combien de ... y a-t-il"; a sentence's list
# marker and enclosing quotes or brackets put back around the translation of what they hold,
# brackets inside it around the translation of their words, hashtags copied, a closing "..."
# kept, a sentence without letters ("2.") copied (`translator.verbatim`); 5: negated sentences
# translated affirmative and negated with "ne ... pas" around the verb their attention links
# (`translator.negation`); 6: a first word the model knows in lowercase only lowercased, the
# translation capitalized (`translator.truecase`); questions with "do", "does", "did" asked as
# their statement (`translator.questions`); "No one", "Nobody", "Nothing" translated as
# "Someone", "Something" and made "Personne ne", "Rien ne" (`translator.negation`); quoted
# text with a capital or a digit copied (`translator.verbatim`); 7: markup kept (tags around the
# sentence as its frame, tag pairs around the translation of their words, entities read as
# characters: `translator.markup`), clock times written the French way (`translator.clock`), a
# pair of brackets placed around the translation of its words, no space between a span and a
# full stop, a comma after a sentence's first span kept; negation and questions with spans; quoted
# words other than names and signs translated inside their quotes; numbers with units copied;
# statements with a question tag asked with "n'est-ce pas" (`translator.questions`); ordinals in
# French form, emoticons copied, names and signs in brackets copied; a word in capitals translated in
# lowercase and its translation put in capitals; 8: a word in capitals given in lowercase whenever
# the vocabulary holds it whole ("DOGS"), French articles linked to it not put in capitals; a span
# after a negated verb placed after "pas", tags around a removed "not" around "pas"; misspelt
# words corrected (`translator.spelling`).
TRANSLATION_RULES = 8


@dataclasses.dataclass(frozen=True)
class DecodeConfig:
    """Settings of greedy and beam search."""

    beam_size: int = 5
    n_best: int = 1
    length_penalty: float = 1.0
    max_length_ratio: float = 2.0
    max_length_extra: int = 10
    max_length: int = 256
    return_attention: bool = False
    # a run of up to three pieces spelling two letters or more may not follow itself ("la
    # neige neige", "promenmenmene", "petit groupe de petit groupe"): 1 reference of val and
    # the test splits in 3,014 has one, the default model 1-2% of its translations
    # (`translator.search`, `reports/repeats.md`)
    block_repeats: bool = True

    def validate(self) -> None:
        if not 1 <= self.beam_size <= MAX_BEAM_SIZE:
            raise TranslatorError(f"beam_size must be between 1 and {MAX_BEAM_SIZE}, got {self.beam_size}")
        if not 1 <= self.n_best <= self.beam_size:
            raise TranslatorError(f"n_best must be between 1 and beam_size ({self.beam_size}), got {self.n_best}")
        if self.max_length < 1:
            raise TranslatorError(f"max_length must be >= 1, got {self.max_length}")
        if not 0 < self.max_length_ratio <= MAX_LENGTH_RATIO:  # False for NaN
            raise TranslatorError(
                f"max_length_ratio must be > 0 and <= {MAX_LENGTH_RATIO}, got {self.max_length_ratio}"
            )
        if not 0 <= self.length_penalty <= MAX_LENGTH_PENALTY:
            raise TranslatorError(
                f"length_penalty must be between 0 and {MAX_LENGTH_PENALTY}, got {self.length_penalty}"
            )

    def max_target_length(self, source_length: int) -> int:
        """Longest target (without EOS) allowed for a source of this many tokens."""
        return max(1, min(self.max_length, int(self.max_length_ratio * source_length) + self.max_length_extra))
