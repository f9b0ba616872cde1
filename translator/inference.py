"""The public translation API: `Translator(model_dir).translate(texts)`."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor

from translator.bundle import default_model_dir, load_bundle
from translator.config import DecodeConfig
from translator.engines import make_engine
from translator.errors import TranslatorError
from translator.search import StepModel, search

logger = logging.getLogger(__name__)

DEFAULT_MAX_INPUT_TOKENS = 256


@dataclasses.dataclass
class Hypothesis:
    text: str
    score: float  # length-normalised log-probability
    log_prob: float
    target_tokens: list[str]  # subword pieces, without EOS
    attention: Tensor | None = None  # (L, nh, T+1, S+1): target pieces + EOS over source pieces + EOS


@dataclasses.dataclass
class TranslationResult:
    source: str
    source_tokens: list[str]
    hypotheses: list[Hypothesis]

    @property
    def text(self) -> str:
        return self.hypotheses[0].text

    @property
    def score(self) -> float:
        return self.hypotheses[0].score


def length_batches(lengths: Sequence[int], max_batch_size: int, max_batch_tokens: int) -> Iterator[list[int]]:
    """Indices grouped longest-first so that padded batches stay dense."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batch: list[int] = []
    for i in order:
        width = max([lengths[j] for j in batch] + [lengths[i]])
        if batch and (len(batch) >= max_batch_size or width * (len(batch) + 1) > max_batch_tokens):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


class Translator:
    """English->French translation with a model bundle.

    `engine` is "torch" (the PyTorch model), "onnx" (ONNX Runtime over the
    bundle's exported graphs, `variant` fp32 | int8 | fp16) or "auto" (onnx if
    the bundle has ONNX graphs); `device` is auto | cpu | cuda. Every engine
    implements the same step interface, so search is the same for all of them.
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        device: str = "auto",
        max_input_tokens: int = DEFAULT_MAX_INPUT_TOKENS,
        threads: int | None = None,
        engine: str = "auto",
        variant: str | None = None,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        if threads:
            torch.set_num_threads(threads)
        model, self.tokenizer, self.manifest = load_bundle(self.model_dir)
        self.config = model.cfg
        self.engine: StepModel = make_engine(
            engine, self.model_dir, device, threads, variant, model=model, manifest=self.manifest
        )
        self.max_input_tokens = min(max_input_tokens, model.cfg.max_positions - 1)

    def encode_sources(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids (without EOS) of each text; checks types and the length limit first."""
        ids: list[list[int]] = []
        for n, text in enumerate(texts):
            if not isinstance(text, str):
                raise TranslatorError(f"text {n}: expected a string, got {type(text).__name__}")
            pieces = self.tokenizer.encode(text) if text.strip() else []
            if len(pieces) > self.max_input_tokens:
                raise TranslatorError(
                    f"text {n} is {len(pieces)} tokens long; the limit is max_input_tokens={self.max_input_tokens}"
                )
            ids.append(pieces)
        return ids

    def translate(
        self,
        texts: Sequence[str],
        *,
        beam_size: int = 5,
        n_best: int = 1,
        length_penalty: float = 1.0,
        max_length_ratio: float = 2.0,
        max_length: int = 256,
        return_attention: bool = False,
        max_batch_size: int = 64,
        max_batch_tokens: int = 4096,
    ) -> list[TranslationResult]:
        """Translate `texts`; an empty or blank text gives an empty translation."""
        cfg = DecodeConfig(
            beam_size=beam_size,
            n_best=n_best,
            length_penalty=length_penalty,
            max_length_ratio=max_length_ratio,
            max_length=min(max_length, self.config.max_positions - 1),
            return_attention=return_attention,
        )
        cfg.validate()
        ids = self.encode_sources(texts)
        results: list[TranslationResult | None] = [None] * len(texts)
        todo = [i for i, s in enumerate(ids) if s]
        for i, s in enumerate(ids):
            if not s:
                results[i] = TranslationResult(texts[i], [], [Hypothesis("", 0.0, 0.0, [])])
        lengths = [len(ids[i]) + 1 for i in todo]
        for batch in length_batches(lengths, max_batch_size, max(max_batch_tokens // beam_size, 1)):
            idx = [todo[b] for b in batch]
            sources = [ids[i] + [self.config.eos_id] for i in idx]
            for i, hyps in zip(idx, search(self.engine, sources, cfg), strict=True):
                results[i] = TranslationResult(
                    texts[i],
                    self.tokenizer.pieces(ids[i]),
                    [
                        Hypothesis(
                            text=self.tokenizer.decode(h.tokens),
                            score=h.score,
                            log_prob=h.log_prob,
                            target_tokens=self.tokenizer.pieces(h.tokens),
                            # (T+1, L, nh, S_batch) -> (L, nh, T+1, S+1): drop the batch's padding columns
                            attention=None
                            if h.attention is None
                            else h.attention[..., : len(ids[i]) + 1].permute(1, 2, 0, 3).contiguous(),
                        )
                        for h in hyps
                    ],
                )
        return [r for r in results if r is not None]
