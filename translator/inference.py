"""The public translation API: `Translator(model_dir).translate(texts)`."""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor

from translator import spelling, truecase
from translator.bundle import default_model_dir, load_bundle
from translator.clauses import Clause, join_clauses, split_clauses
from translator.config import DecodeConfig
from translator.engines import make_engine
from translator.errors import TranslatorError
from translator.negation import negate, past_negation
from translator.search import Hypothesis as SearchHypothesis
from translator.search import StepModel, length_norm, search
from translator.sentences import split_sentences
from translator.verbatim import Prepared, capitals, insertion_points, moved, prepare, restore

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
    `verbatim` (default on): URLs, numbers, emoji and words the vocabulary cannot
    spell are copied through instead of translated, text in capitals or in
    Title Case is translated in sentence case, and a first word the model knows in
    lowercase only is lowercased (`translator.verbatim`, `translator.truecase`); off,
    the model sees the text as given. `clauses` (default on): a long sentence is
    translated clause by clause (`translator.clauses`); off, in one piece.
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
        verbatim: bool = True,
        clauses: bool = True,
    ) -> None:
        self.verbatim = verbatim
        self.clauses = clauses
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        if threads:
            torch.set_num_threads(threads)
        model, self.tokenizer, self.manifest = load_bundle(self.model_dir)
        self.lowercase = truecase.load(self.model_dir)
        # the words a word in capitals is given to the model as, lowercased ("A DOG runs")
        self.known = self.lowercase | self.tokenizer.whole_words()
        self.speller = spelling.load(self.model_dir)
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
        block_repeats: bool = True,
        max_batch_size: int = 64,
        max_batch_tokens: int = 4096,
    ) -> list[TranslationResult]:
        """Translate `texts`; an empty or blank text gives an empty translation.

        A text of several sentences is split (`translator.sentences`), its sentences
        are translated in the same batches as the other texts, and the result joins
        them (`join_sentences`). The length limit applies to the whole text.
        `block_repeats`: a word, or a part of one, may not follow itself ("promenmenmene",
        `DecodeConfig.block_repeats`)."""
        cfg = DecodeConfig(
            beam_size=beam_size,
            n_best=n_best,
            length_penalty=length_penalty,
            max_length_ratio=max_length_ratio,
            max_length=min(max_length, self.config.max_positions - 1),
            return_attention=return_attention,
            block_repeats=block_repeats,
        )
        cfg.validate()
        ids = self.encode_sources(texts)
        # units: (text index, what to translate, its source ids) of every sentence (or clause of
        # a long sentence); clause_of: (the sentence, its index in the text, the clause) of each unit;
        # split: the units that are clauses of a split sentence (its attention is force-decoded whole)
        units: list[tuple[int, Prepared, list[int]]] = []
        clause_of: list[tuple[str, int, Clause]] = []
        split: set[int] = set()
        for i, (text, s) in enumerate(zip(texts, ids, strict=True)):
            sentences = split_sentences(text) if s else []
            for k, sentence in enumerate(sentences):
                clauses = split_clauses(sentence) if self.clauses else [Clause(sentence)]
                for clause in clauses:
                    c = clause.text
                    p = (
                        prepare(c, self.tokenizer.unknown, self.lowercase, self.known, self.speller)
                        if self.verbatim
                        else Prepared(c, c)
                    )
                    whole = len(sentences) == 1 and len(clauses) == 1 and not p.changed
                    u = s if whole else self.tokenizer.encode(p.text)
                    if u or p.copy_only:
                        if len(clauses) > 1:
                            split.add(len(units))
                        units.append((i, p, [] if p.copy_only else u))
                        clause_of.append((sentence, k, clause))
        parts: list[list[tuple[int, TranslationResult]]] = [[] for _ in texts]  # (unit, result) per text

        # batched by whether the search must return attention: sentences with spans need it (it
        # places the spans), so do negated ones (it finds their verbs); the others only if asked
        # for, and not the clauses of a split sentence
        def needs_attention(b: int) -> bool:
            p = units[b][1]
            return bool(p.spans or p.negations or p.emphasized) or (return_attention and b not in split)

        for attend in (False, True):
            decode = dataclasses.replace(cfg, return_attention=attend)
            group = [b for b, (_, p, _) in enumerate(units) if not p.copy_only and needs_attention(b) == attend]
            lengths = [len(units[b][2]) + 1 for b in group]
            for batch in length_batches(lengths, max_batch_size, max(max_batch_tokens // beam_size, 1)):
                batch = [group[b] for b in batch]
                sources = [units[b][2] + [self.config.eos_id] for b in batch]
                found = search(self.engine, sources, decode, self.tokenizer.repeat_weights)
                for b, hyps in zip(batch, found, strict=True):
                    i, p, u = units[b]
                    parts[i].append((b, self._result(p, u, hyps, return_attention)))
        copied = [b for b, (_, p, _) in enumerate(units) if p.copy_only]
        for b in copied:
            i, p, _ = units[b]
            parts[i].append((b, self._result(p, [], [], return_attention)))
        by_sentence = [self._sentences(done, clause_of, length_penalty) for done in parts]
        if return_attention:
            self._forced_attention([r for done in by_sentence for r in done if r.hypotheses[0].attention is None])
        results = []
        for text, ordered in zip(texts, by_sentence, strict=True):
            if not ordered:
                results.append(TranslationResult(text, [], [Hypothesis("", 0.0, 0.0, [])]))
            elif len(ordered) == 1:
                results.append(dataclasses.replace(ordered[0], source=text))
            else:
                results.append(join_sentences(text, ordered, length_penalty))
        return results

    def _sentences(
        self, done: list[tuple[int, TranslationResult]], clause_of: Sequence[tuple[str, int, Clause]],
        length_penalty: float,
    ) -> list[TranslationResult]:  # fmt: skip
        """The results of a text's sentences, in order, from those of its units (`done`:
        (unit, result)); the clauses of a long sentence are joined into one result, whose
        tokens are those of the sentence and of the joined translation, and whose
        attention is left to `_forced_attention` (None here)."""
        out: list[TranslationResult] = []
        in_order = sorted(done, key=lambda x: x[0])
        for _, run in itertools.groupby(in_order, key=lambda x: clause_of[x[0]][1]):  # by sentence
            units = list(run)
            sentence, _, first = clause_of[units[0][0]]
            if len(units) == 1 and not first.joiner:
                out.append(units[0][1])
                continue
            clauses = [clause_of[b][2] for b, _ in units]
            hypotheses = []
            for hyps in _kth_hypotheses([r for _, r in units]):
                text = join_clauses(clauses, [h.text for h in hyps])
                tokens = self.tokenizer.pieces(self.tokenizer.encode(text))
                log_prob = sum(h.log_prob for h in hyps)
                score = length_norm(log_prob, len(tokens) + 1, length_penalty)
                hypotheses.append(Hypothesis(text, score, log_prob, tokens))
            out.append(TranslationResult(sentence, self.tokenizer.pieces(self.tokenizer.encode(sentence)), hypotheses))
        return out

    def _result(
        self, p: Prepared, source: list[int], hyps: list[SearchHypothesis], return_attention: bool
    ) -> TranslationResult:
        """The result for one sentence. Where `prepare` cut spans out, they are put back
        (`translator.verbatim`), as is a closing "?" or "!" that the model saw as ".";
        the tokens are then those of the texts as given and
        returned; their attention is then left to `_forced_attention` (None here), as for
        a sentence with a word the speller split in two ("bullrider": `translator.spelling`),
        whose words are not the text's one for one. A sentence in capitals, with its first
        word lowercased (`translator.truecase`) or other words corrected, keeps the tokens and
        attention of the text the model translated."""
        if not p.put_back and len(p.text.split()) == len(p.source.split()):  # (a copied sentence is one span)
            return TranslationResult(
                p.source,
                self.tokenizer.pieces(source),
                [
                    Hypothesis(
                        text=restore(p, self.tokenizer.decode(h.tokens), []),
                        score=h.score,
                        log_prob=h.log_prob,
                        target_tokens=self.tokenizer.pieces(h.tokens),
                        # (T+1, L, nh, S_batch) -> (L, nh, T+1, S+1): drop the batch's padding columns
                        attention=None
                        if h.attention is None or not return_attention
                        else h.attention[..., : len(source) + 1].permute(1, 2, 0, 3).contiguous(),
                    )
                    for h in hyps
                ],
            )
        if p.copy_only:
            outputs = [(restore(p, "", []), 0.0, 0.0)]
        else:
            outputs = [(restore(p, *self._edited(p, source, h)), h.score, h.log_prob) for h in hyps]

        def encode(text: str) -> list[str]:
            return self.tokenizer.pieces(self.tokenizer.encode(text))

        return TranslationResult(
            p.source, encode(p.source), [Hypothesis(t, score, lp, encode(t)) for t, score, lp in outputs]
        )

    def _span_offsets(self, p: Prepared, h: SearchHypothesis) -> list[int]:
        """Where each of `p`'s spans goes in the translation `h`, in characters (from its attention)."""
        if not p.spans:
            return []
        from translator.align import model_view, select_attention

        assert h.attention is not None
        weights = select_attention(h.attention.permute(1, 2, 0, 3), *model_view(self.config))
        points = insertion_points(p.spans, self.tokenizer.piece_starts(p.text), self.tokenizer.pieces(h.tokens),
                                  weights.tolist())  # fmt: skip
        length = len(self.tokenizer.decode(h.tokens))
        return [min(len(self.tokenizer.decode(h.tokens[:j])), length) for j in points]

    def _edited(self, p: Prepared, source: list[int], h: SearchHypothesis) -> tuple[str, list[int]]:
        """The translation `h` of the affirmative `p.text`, its verbs negated where its
        attention links them, read as `translator align` reads it (`translator.negation`), and
        the words linked to `p`'s emphasized ones in capitals (`translator.verbatim.capitals`);
        and where `p`'s spans go in it (`_span_offsets`). `h` as decoded if neither applies."""
        text = self.tokenizer.decode(h.tokens)
        offsets = self._span_offsets(p, h)
        if not p.negations and not p.emphasized:
            return text, offsets
        from translator.align import hard_links, model_view, word_attention

        assert h.attention is not None
        raw = h.attention[..., : len(source) + 1].permute(1, 2, 0, 3)
        pieces = self.tokenizer.pieces
        words, null = word_attention(raw, pieces(source), pieces(h.tokens), p.text.split(), text.split(),
                                     *model_view(self.config), null=self.config.alignment_null)  # fmt: skip
        links = hard_links(words, null=null)
        text = capitals(text, {j for i, j, _ in links if i in p.emphasized})  # (the same length: offsets hold)
        if not p.negations:
            return text, offsets
        negated = negate(text, p.negations, [{j for i, j, _ in links if i in n.words} for n in p.negations])
        return negated, [past_negation(negated, at) for at in moved(text, negated, offsets)]

    def _forced_attention(self, results: Sequence[TranslationResult]) -> None:
        """Fill in the attention of hypotheses whose text the model did not produce as
        such (spans put back, copied sentences, the clauses of a long sentence joined): the
        model force-decodes them."""
        from translator.align import forced_attention

        pairs = [(r, h) for r in results for h in r.hypotheses if h.target_tokens and r.source_tokens]
        if not pairs:
            return
        ids = self.tokenizer.sp.PieceToId
        sources = [[ids(x) for x in r.source_tokens] for r, _ in pairs]
        targets = [[ids(x) for x in h.target_tokens] for _, h in pairs]
        for (_, h), a in zip(pairs, forced_attention(self, sources, targets), strict=True):
            h.attention = a


def _kth_hypotheses(results: Sequence[TranslationResult]) -> Iterator[list[Hypothesis]]:
    """For k = 0 .. the largest n-best - 1: the k-th hypothesis of each result (its last if
    it has fewer), which one joined hypothesis is made of."""
    for k in range(max(len(r.hypotheses) for r in results)):
        yield [r.hypotheses[min(k, len(r.hypotheses) - 1)] for r in results]


def join_sentences(text: str, sentences: Sequence[TranslationResult], length_penalty: float) -> TranslationResult:
    """One result for a text from the results of its sentences, in order.

    Hypothesis k joins the k-th hypothesis of every sentence: texts joined with a
    space, pieces concatenated, log-probabilities summed and the score normalised
    over the total length. Attention is block-diagonal: each sentence's target
    pieces attend to its own source pieces, the mass a sentence put on its EOS goes
    to the text's one EOS column, and the last sentence's EOS row is the text's.
    """
    hypotheses = []
    for hyps in _kth_hypotheses(sentences):
        log_prob = sum(h.log_prob for h in hyps)
        length = sum(len(h.target_tokens) + 1 for h in hyps)
        hypotheses.append(
            Hypothesis(
                text=" ".join(h.text for h in hyps if h.text),
                score=length_norm(log_prob, length, length_penalty),
                log_prob=log_prob,
                target_tokens=[p for h in hyps for p in h.target_tokens],
                attention=block_attention([r.source_tokens for r in sentences], hyps),
            )
        )
    return TranslationResult(text, [p for r in sentences for p in r.source_tokens], hypotheses)


def block_attention(sources: Sequence[Sequence[str]], hyps: Sequence[Hypothesis]) -> Tensor | None:
    """The attention of consecutive (source, hypothesis) sentences as one text's (see `join_sentences`);
    None if a hypothesis has none."""
    blocks = [h.attention for h in hyps]
    if any(b is None for b in blocks):
        return None
    first = blocks[0]
    assert first is not None
    s_total = sum(len(s) for s in sources)
    t_total = sum(len(h.target_tokens) for h in hyps)
    out = first.new_zeros(*first.shape[:2], t_total + 1, s_total + 1)
    t0 = s0 = 0
    for src, h, a in zip(sources, hyps, blocks, strict=True):
        assert a is not None
        t, s = len(h.target_tokens), len(src)
        out[..., t0 : t0 + t, s0 : s0 + s] = a[..., :t, :s]
        out[..., t0 : t0 + t, s_total] = a[..., :t, s]
        t0, s0 = t0 + t, s0 + s
    last = blocks[-1]
    assert last is not None
    s = len(sources[-1])
    out[..., t_total, s_total - s : s_total] = last[..., -1, :s]
    out[..., t_total, s_total] = last[..., -1, s]
    return out
