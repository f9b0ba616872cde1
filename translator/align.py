"""Word alignments from the model's cross-attention.

    from translator import Translator
    from translator.align import align

    tr = Translator("path/to/bundle")
    [a] = align(tr, ["the dog runs ."], ["le chien court ."])
    print(a.pharaoh())  # "0-0 1-1 2-2 3-3"

Steps, each a function of its own:

1. Attention. With `targets`, the target is FORCE-decoded: the engine encodes the
   source and is fed BOS + the target pieces one step at a time through the
   engine step interface (`decode_step(..., need_attention=True)`), so the torch
   and the ONNX engines give the same tensors. (A head supervised with full target
   context by guided adaptation, `ModelConfig.alignment_full_context`, is read from
   one torch pass without the future mask instead: `full_context_attention`.)
   Without `targets`, the source is
   translated first (`Translator.translate(..., return_attention=True)`, best
   hypothesis). Either way the raw tensor is (L, nh, T+1, S+1): per decoder layer
   and head, the attention of the step that predicts target piece t (row T predicts
   EOS) over the source pieces plus the source EOS (column S).
2. Selection (`select_attention`): one layer or the mean over layers (or over a
   list of layers), one head or the mean over heads. The default `layer=None` is
   `DEFAULT_LAYERS`, the mean of the penultimate and the last decoder layer with
   heads averaged (the upper layers usually align best); it is a parameter, and
   which layer is best for a given model is decided by the per-layer AER table
   (`translator align --layer N` for each N, then `translator aer`) on held-out
   gold alignments, not by this default.
3. Subword -> word merging (`merge_subwords`, the one place where this happens):
   the words are the whitespace-separated words of the given text (so punctuation
   attached to a word belongs to that word, as in the text). Each piece belongs to
   the word in which it starts; a piece that is only "▁" belongs to the next
   word. Attention is summed over the source pieces of a word and averaged over
   the target pieces of a word. The EOS row and the EOS column are dropped and each
   target word's row is renormalised to sum to 1 over the source words (models
   park much attention on EOS; without renormalisation thresholds would mean
   different things for different rows).
4. Hard links (`hard_links`), each with its score = the merged attention value:
   `t2s` (alias `argmax`: each target word to its argmax source word), `s2t`
   (each source word to its argmax target word), `intersection`, `union`,
   `grow-diag-final-and` (Koehn et al. 2003, from t2s and s2t) and `threshold`
   (every cell with attention >= `threshold`). For a head taught NULL alignment
   by guided adaptation (`ModelConfig.alignment_null`), a target word whose
   attention on the source EOS beats every source word (`null_words`) gets no
   `t2s` or `threshold` link. Which method suits a model can be chosen without gold
   links (`choose_method`): the one that agrees best with an unsupervised aligner's
   runs, e.g. the eflomal guide of guided adaptation (`translator align --method auto`).
   `align_methods` reads one computation of the attention with several methods.

Links are (source word, target word) 0-based over the whitespace-separated words;
`Alignment.pharaoh()` writes them as `i-j`, source first. The method names, the
symmetrisation and the Pharaoh format, which need no model, are in `translator.links`.
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from translator.errors import TranslatorError
from translator.inference import Hypothesis, Translator, block_attention, length_batches
from translator.links import (
    DEFAULT_METHOD,
    DEFAULT_THRESHOLD,
    METHODS,
    Link,
    format_pharaoh,
    grow_diag_final_and,
)
from translator.sentences import split_sentences
from translator.torch_engine import pad_batch

if TYPE_CHECKING:
    from translator.config import ModelConfig
    from translator.detokenize import Detokenized

DEFAULT_LAYERS = (-2, -1)  # mean of the penultimate and the last decoder layer; see the module docstring
WORD_START = "▁"

Layer = int | Sequence[int] | str | None
Head = int | str | None


@dataclasses.dataclass
class Alignment:
    """One aligned sentence pair.

    `attention` is the selected, word-level matrix (target words, source words)
    the links come from; `raw_attention` is the full piece-level tensor
    (layers, heads, target pieces + EOS, source pieces + EOS), kept only when
    asked for (`return_raw_attention=True`).
    """

    source: str
    target: str
    source_words: list[str]
    target_words: list[str]
    source_tokens: list[str]
    target_tokens: list[str]
    links: list[Link]  # (source word, target word, score), sorted
    attention: Tensor
    raw_attention: Tensor | None = None

    def pharaoh(self) -> str:
        """`i-j` links, 0-based, source word first, space-separated."""
        return format_pharaoh(self.links)

    def to_dict(self, with_attention: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "target": self.target,
            "source_words": self.source_words,
            "target_words": self.target_words,
            "source_tokens": self.source_tokens,
            "target_tokens": self.target_tokens,
            "links": [[i, j, round(s, 4)] for i, j, s in self.links],
            "pharaoh": self.pharaoh(),
        }
        if with_attention:
            out["attention"] = [[round(float(x), 4) for x in row] for row in self.attention.tolist()]
        return out

    def to_json(self, with_attention: bool = False) -> str:
        return json.dumps(self.to_dict(with_attention), ensure_ascii=False)


# --- 1. attention -----------------------------------------------------------------
def forced_attention(
    translator: Translator, sources: list[list[int]], targets: list[list[int]], max_batch_size: int = 32
) -> list[Tensor]:
    """Teacher-forced cross-attention through the engine step interface.

    `sources`/`targets` are piece ids without EOS. Returns per pair a float tensor
    (L, nh, T+1, S+1): rows = steps predicting the T target pieces then EOS,
    columns = source pieces then EOS.
    """
    engine = translator.engine
    eos = translator.config.eos_id
    out: list[Tensor | None] = [None] * len(sources)
    lengths = [len(s) + len(t) + 2 for s, t in zip(sources, targets, strict=True)]
    for batch in length_batches(lengths, max_batch_size, 4096):
        srcs = [sources[i] + [eos] for i in batch]
        tgts = [targets[i] for i in batch]
        steps = max(len(t) for t in tgts) + 1
        state = engine.encode(srcs)
        tokens = torch.full((len(batch),), engine.bos_id, dtype=torch.long)
        rows: list[Tensor] = []
        for step in range(steps):
            step_out, state = engine.decode_step(state, tokens, 1, True)
            attn = step_out.attention
            if attn is None:
                raise TranslatorError(f"the {getattr(engine, 'name', '?')} engine returned no cross-attention")
            rows.append(attn.float())  # (N, L, nh, S_batch)
            # rows after a shorter target's EOS step are discarded; feed EOS there
            tokens = torch.tensor([t[step] if step < len(t) else eos for t in tgts], dtype=torch.long)
        stacked = torch.stack(rows, dim=3)  # (N, L, nh, steps, S_batch)
        for k, i in enumerate(batch):
            out[i] = stacked[k, :, :, : len(tgts[k]) + 1, : len(srcs[k])].contiguous()
    return [a for a in out if a is not None]


def full_context_attention(
    translator: Translator, sources: list[list[int]], targets: list[list[int]], max_batch_size: int = 32
) -> list[Tensor]:
    """Like `forced_attention`, from one decoder pass without the future mask (every
    row sees the whole target): for a head supervised that way
    (`ModelConfig.alignment_full_context`, `translator.adapt`). Torch engine only."""
    model = getattr(translator.engine, "model", None)
    if model is None:
        raise TranslatorError("full-context alignment needs the torch engine (it is not a decoding step)")
    cfg = translator.config
    out: list[Tensor | None] = [None] * len(sources)
    lengths = [len(s) + len(t) + 2 for s, t in zip(sources, targets, strict=True)]
    for batch in length_batches(lengths, max_batch_size, 4096):
        src = pad_batch([[*sources[i], cfg.eos_id] for i in batch], cfg.pad_id)
        tgt_in = pad_batch([[cfg.bos_id, *targets[i]] for i in batch], cfg.pad_id)
        with torch.inference_mode():
            _, attn = model(src, tgt_in, need_weights=True, causal=False)
        stacked = torch.stack(attn, dim=1).float()  # (N, L, nh, T+1, S+1)
        for k, i in enumerate(batch):
            out[i] = stacked[k, :, :, : len(targets[i]) + 1, : len(sources[i]) + 1].contiguous()
    return [a for a in out if a is not None]


# --- 2. selection -----------------------------------------------------------------
def model_view(config: ModelConfig, head: Head = "mean") -> tuple[Layer, Head]:
    """The (layer, head) to read when none is given: the model's guided-alignment layer
    and head if it was trained with one (`ModelConfig.alignment_layer`), else
    DEFAULT_LAYERS with `head`."""
    if config.alignment_layer is None:
        return None, head
    return config.alignment_layer, "mean" if config.alignment_head is None else config.alignment_head


def resolve_layers(layer: Layer, n_layers: int) -> list[int]:
    """Layer indices (0-based) for `layer`: None = DEFAULT_LAYERS (those the model
    has), an int (negative counts from the end), a list of ints (averaged) or
    "mean" (all layers)."""
    if layer is None:
        return sorted({x % n_layers for x in DEFAULT_LAYERS if -n_layers <= x < n_layers})
    if isinstance(layer, str):
        if layer in ("mean", "all"):
            return list(range(n_layers))
        raise TranslatorError(f"layer must be an integer, a list of integers or 'mean', got {layer!r}")
    wanted = [layer] if isinstance(layer, int) else list(layer)
    if not wanted:
        raise TranslatorError("layer: no layer given")
    out = []
    for x in wanted:
        if not isinstance(x, int) or isinstance(x, bool) or not -n_layers <= x < n_layers:
            raise TranslatorError(f"layer {x!r} is out of range: the model has {n_layers} decoder layers")
        out.append(x % n_layers)
    return out


def select_attention(raw: Tensor, layer: Layer = None, head: Head = "mean") -> Tensor:
    """(L, nh, T, S) -> (T, S): the chosen layer(s) and head (or the mean over heads)."""
    n_layers, n_heads = raw.shape[0], raw.shape[1]
    x = raw[resolve_layers(layer, n_layers)].mean(dim=0)  # (nh, T, S)
    if head is None or head in ("mean", "all"):
        return x.mean(dim=0)
    if not isinstance(head, int) or isinstance(head, bool):
        raise TranslatorError(f"head must be an integer or 'mean', got {head!r}")
    if not -n_heads <= head < n_heads:
        raise TranslatorError(f"head {head!r} is out of range: the model has {n_heads} heads (or use 'mean')")
    return x[head]


# --- 3. subwords -> words -----------------------------------------------------------
def piece_words(pieces: Sequence[str], words: Sequence[str]) -> list[int]:
    """Word index (into `words`, the whitespace-separated words of the text) of each
    SentencePiece piece.

    A piece belongs to the word in which its first non-"▁" character falls; a
    new word starts at each "▁" (and at the very first piece). A piece that is only
    "▁" belongs to the next word. Some words produce no pieces at all (the
    tokenizer's normalisation drops zero-width and control characters): when the
    pieces make fewer words than `words`, they are matched to the words in order
    (`_match_words`), skipping the words that vanished. If they make more,
    pieces are spread over the words in proportion to their length instead.
    """
    n_words = len(words)
    if n_words == 0:
        return [0] * len(pieces)
    owners: list[int | None] = []
    surfaces: list[str] = []
    cur, boundary = -1, True
    for piece in pieces:
        owner = None
        for ch in piece:
            if ch == WORD_START:
                boundary = True
            else:
                if boundary:
                    cur, boundary = cur + 1, False
                    surfaces.append("")
                if owner is None:
                    owner = cur
        if owner is not None:
            surfaces[owner] += piece.replace(WORD_START, "")
        owners.append(owner)
    if 0 < len(surfaces) <= n_words:
        word_of = _match_words(surfaces, words)
        nxt = word_of[-1]
        result = [0] * len(pieces)
        for k in range(len(pieces) - 1, -1, -1):  # "▁"-only pieces: the next word's index
            own = owners[k]
            if own is None:
                result[k] = nxt
            else:
                result[k] = nxt = word_of[own]
        return result
    # fallback: proportional to piece lengths
    sizes = [max(len(p.replace(WORD_START, "")), 1) for p in pieces]
    total = sum(sizes)
    out, acc = [], 0
    for s in sizes:
        out.append(min(acc * n_words // max(total, 1), n_words - 1))
        acc += s
    return out


def _visible(text: str) -> str:
    """`text` without the characters a tokenizer's normalisation typically drops."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch)[0] not in "CZ")


def _match_words(surfaces: Sequence[str], words: Sequence[str]) -> list[int]:
    """Monotonic one-to-one assignment of the words the pieces make (`surfaces`, their
    text without "▁") to `words` (at least as many): the one that matches the most
    surfaces to their word's text, preferring to leave out words with no visible
    character. Equal counts: word k is surface k."""
    n, m = len(words), len(surfaces)
    if n == m:
        return list(range(m))

    def gain(i: int, j: int) -> float:
        word, surface = words[i], surfaces[j]
        if surface in (word, unicodedata.normalize("NFKC", word)) or _visible(surface) == _visible(word):
            return 2.0
        return 1.0 if _visible(surface)[:1] == _visible(word)[:1] else 0.0

    skip = [0.0 if _visible(w) else 0.5 for w in words]  # leaving out an invisible word is rewarded
    # best[i][j]: best total over words[:i] and surfaces[:j]
    best = [[float("-inf")] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(0, min(i, m) + 1):
            b = best[i - 1][j] + skip[i - 1]
            if j:
                b = max(b, best[i - 1][j - 1] + gain(i - 1, j - 1))
            best[i][j] = b
    word_of = [0] * m
    i, j = n, m
    while j:
        if best[i][j] == best[i - 1][j - 1] + gain(i - 1, j - 1):
            word_of[j - 1], j = i - 1, j - 1
        i -= 1
    return word_of


def merge_subwords(
    attention: Tensor,
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    source_words: Sequence[str],
    target_words: Sequence[str],
    renormalize: bool = True,
) -> Tensor:
    """Piece-level attention (..., T or T+1, S or S+1) -> word level (..., T_words, S_words).

    A trailing EOS row/column (one more than the pieces) is dropped. Source
    pieces of a word are summed, target pieces of a word averaged; then, if
    `renormalize`, each target word's row is scaled to sum to 1 (all-zero rows stay 0).
    """
    t, s = len(target_tokens), len(source_tokens)
    if attention.shape[-2] not in (t, t + 1) or attention.shape[-1] not in (s, s + 1):
        raise TranslatorError(
            f"attention of shape {tuple(attention.shape)} does not fit {t} target and {s} source pieces"
        )
    a = attention[..., :t, :s].float()
    src_map = torch.zeros(s, len(source_words))
    if source_words:
        for k, w in enumerate(piece_words(source_tokens, source_words)):
            src_map[k, w] = 1.0
    words = _target_map(target_tokens, target_words) @ a @ src_map
    if renormalize:
        total = words.sum(dim=-1, keepdim=True)
        words = torch.where(total > 0, words / total.clamp(min=1e-12), words)
    return words


def _target_map(target_tokens: Sequence[str], target_words: Sequence[str]) -> Tensor:
    """(target words, target pieces): the mean over each word's pieces."""
    tgt_map = torch.zeros(len(target_words), len(target_tokens))
    if target_words:
        for k, w in enumerate(piece_words(target_tokens, target_words)):
            tgt_map[w, k] = 1.0
    return tgt_map / tgt_map.sum(dim=1, keepdim=True).clamp(min=1.0)


def null_words(
    attention: Tensor,
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    source_words: Sequence[str],
    target_words: Sequence[str],
) -> set[int]:
    """Target words whose attention on the source EOS, the NULL word, beats every
    source word (pieces merged as in `merge_subwords`). `attention` is (T or T+1, S+1),
    one layer/head selection; for a head taught NULL alignment
    (`ModelConfig.alignment_null`, `translator.adapt`)."""
    t, s = len(target_tokens), len(source_tokens)
    if attention.shape[-1] != s + 1:
        raise TranslatorError(f"attention of shape {tuple(attention.shape)} has no source EOS column")
    words = merge_subwords(attention, source_tokens, target_tokens, source_words, target_words, renormalize=False)
    null = _target_map(target_tokens, target_words) @ attention[..., :t, s].float()
    if not source_words:
        return set(range(len(target_words)))
    return {j for j in range(len(target_words)) if float(null[j]) > float(words[j].max())}


def word_attention(
    raw: Tensor,
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    source_words: Sequence[str],
    target_words: Sequence[str],
    layer: Layer,
    head: Head,
    renormalize: bool = True,
    null: bool = False,
) -> tuple[Tensor, set[int] | None]:
    """The word-level attention (target words, source words) that links are read from, from a
    piece-level tensor (L, nh, T(+1), S+1): the chosen layers and head, pieces merged into
    words; and, with `null` (a model taught NULL alignment), the target words aligned to
    NULL (`null_words`), else None."""
    selected = select_attention(raw, layer, head)
    words = merge_subwords(selected, source_tokens, target_tokens, source_words, target_words, renormalize)
    nulls = null_words(selected, source_tokens, target_tokens, source_words, target_words) if null else None
    return words, nulls


# --- 4. hard links ------------------------------------------------------------------
def hard_links(
    words: Tensor, method: str = DEFAULT_METHOD, threshold: float = DEFAULT_THRESHOLD, null: set[int] | None = None
) -> list[Link]:
    """(source word, target word, score) links from a (target words, source words) matrix;
    the target words in `null` (`null_words`) get no target->source link (t2s, threshold)."""
    _check_methods([method])
    n_tgt, n_src = words.shape
    if n_tgt == 0 or n_src == 0:
        return []
    null = null or set()
    pairs: set[tuple[int, int]]
    if method == "threshold":
        pairs = {(int(i), int(j)) for j, i in (words >= threshold).nonzero().tolist() if j not in null}
    else:
        t2s = {(int(words[j].argmax()), j) for j in range(n_tgt) if float(words[j].sum()) > 0 and j not in null}
        s2t = {(i, int(words[:, i].argmax())) for i in range(n_src) if float(words[:, i].sum()) > 0}
        if method in ("t2s", "argmax"):
            pairs = t2s
        elif method == "s2t":
            pairs = s2t
        elif method == "intersection":
            pairs = t2s & s2t
        elif method == "union":
            pairs = t2s | s2t
        else:
            pairs = grow_diag_final_and(t2s, s2t)
    return [(i, j, float(words[j, i])) for i, j in sorted(pairs)]


# --- the API ------------------------------------------------------------------------
def _check_methods(methods: Iterable[str]) -> None:
    for method in methods:
        if method not in METHODS:
            raise TranslatorError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def sentence_pairs(
    translator: Translator, source: str, target: str, src_ids: list[int], tgt_ids: list[int]
) -> list[tuple[list[int], list[int]]]:
    """The (source ids, target ids) units a pair is force-decoded in: its sentences, paired in
    order, when both sides have the same number of them (`translator.sentences`) and their
    pieces are the whole texts' pieces; else the whole pair. The model learnt single
    sentences: decoded whole, a text of several lets a word attend to another sentence."""
    sources, targets = split_sentences(source), split_sentences(target)
    if len(sources) < 2 or len(sources) != len(targets):
        return [(src_ids, tgt_ids)]
    encode = translator.tokenizer.encode
    units = [(encode(s), encode(t)) for s, t in zip(sources, targets, strict=True)]
    if [i for s, _ in units for i in s] != src_ids or [i for _, t in units for i in t] != tgt_ids:
        return [(src_ids, tgt_ids)]
    if any(not s or not t for s, t in units):
        return [(src_ids, tgt_ids)]
    return units


def _paired_attention(
    translator: Translator,
    sources: Sequence[str],
    targets: Sequence[str],
    src_ids: list[list[int]],
    tgt_ids: list[list[int]],
    max_batch_size: int,
    by_sentence: bool = True,
) -> list[Tensor]:
    """Forced (L, nh, T+1, S+1) attention of each pair; `by_sentence`: block-diagonal over its
    sentence pairs (`sentence_pairs`), as for a translated text of several sentences."""
    attention = full_context_attention if translator.config.alignment_full_context else forced_attention
    pairs = zip(sources, targets, src_ids, tgt_ids, strict=True)
    units = [sentence_pairs(translator, *p) if by_sentence else [(p[2], p[3])] for p in pairs]
    flat = attention(translator, [s for u in units for s, _ in u], [t for u in units for _, t in u], max_batch_size)
    out: list[Tensor] = []
    pieces = translator.tokenizer.pieces
    first = 0
    for unit in units:
        blocks, first = flat[first : first + len(unit)], first + len(unit)
        if len(unit) == 1:
            out.append(blocks[0])
            continue
        hyps = [Hypothesis("", 0.0, 0.0, pieces(t), a) for (_, t), a in zip(unit, blocks, strict=True)]
        joined = block_attention([pieces(s) for s, _ in unit], hyps)
        assert joined is not None
        out.append(joined)
    return out


def _check_texts(name: str, texts: Sequence[str]) -> None:
    if isinstance(texts, str):
        raise TranslatorError(f"{name} must be a list of strings, not a string")
    for n, text in enumerate(texts):
        if not isinstance(text, str):
            raise TranslatorError(f"pair {n + 1}: the {name[:-1]} is a {type(text).__name__}, not a string")
        if not text.strip():
            raise TranslatorError(f"pair {n + 1}: the {name[:-1]} is empty")


def _encode(translator: Translator, name: str, texts: Sequence[str]) -> list[list[int]]:
    out = []
    limit = translator.max_input_tokens
    for n, text in enumerate(texts):
        ids = translator.tokenizer.encode(text)
        if len(ids) > limit:
            raise TranslatorError(
                f"pair {n + 1}: the {name} is {len(ids)} tokens long; the limit is max_input_tokens={limit}"
            )
        if not ids:
            raise TranslatorError(
                f"pair {n + 1}: the {name} has no text the tokenizer keeps (only invisible characters)"
            )
        out.append(ids)
    return out


def align(
    translator: Translator,
    sources: Sequence[str],
    targets: Sequence[str] | None = None,
    *,
    method: str = DEFAULT_METHOD,
    layer: Layer = None,
    head: Head = "mean",
    threshold: float = DEFAULT_THRESHOLD,
    renormalize: bool = True,
    return_raw_attention: bool = False,
    beam_size: int = 5,
    max_batch_size: int = 32,
    tokenized: bool = False,
    by_sentence: bool = True,
    adapt_steps: int = 0,
    guide: Sequence[Sequence[Sequence[tuple[int, int]]]] | None = None,
) -> list[Alignment]:
    """Word-align each (source, target) pair; without `targets`, translate first.

    `layer`: None (the model's guided-alignment layer and head if it was trained
    with one, `ModelConfig.alignment_layer`, else DEFAULT_LAYERS), an int, a list
    of ints (averaged) or "mean"; `head`: an int or "mean". Pairs are numbered from 1 in error messages.
    Raises TranslatorError for lists of different lengths, an empty side, a text
    over the translator's `max_input_tokens`, or a bad method/layer/head.

    `tokenized`: the texts are tokenized alignment data (lowercased, French
    contractions and elisions undone, as in the Hansards NAACL-2003 pairs); the
    model aligns their natural form (`translator.detokenize`) and the links and the
    word-level attention are reported over the given tokens.

    `by_sentence`: a pair whose sides have the same number of sentences is force-decoded
    sentence by sentence (`sentence_pairs`); False decodes every pair whole.

    `adapt_steps` > 0 (with `targets`): first train a copy of the model that many
    steps on the pairs themselves (`translator.adapt`), as statistical aligners fit
    the sentences they align. `guide` (with `adapt_steps`): per pair, one or more sets
    of (source, target) links over the given words from an unsupervised aligner; the
    adaptation then also trains the alignment head on them (guided adaptation), and
    the alignments are read from that head.
    """
    if guide is not None and (not adapt_steps or targets is None):
        raise TranslatorError("guide links need targets and adapt_steps > 0")
    _check_methods([method])  # before any adaptation
    if adapt_steps and targets is not None:
        translator = adapted(translator, sources, targets, steps=adapt_steps, guide=guide, tokenized=tokenized)
    [result] = align_methods(
        translator, sources, targets, [(method, threshold)], layer=layer, head=head, renormalize=renormalize,
        return_raw_attention=return_raw_attention, beam_size=beam_size, max_batch_size=max_batch_size,
        tokenized=tokenized, by_sentence=by_sentence,
    )  # fmt: skip
    return result


def align_methods(
    translator: Translator,
    sources: Sequence[str],
    targets: Sequence[str] | None,
    methods: Sequence[tuple[str, float | None]],
    *,
    layer: Layer = None,
    head: Head = "mean",
    renormalize: bool = True,
    return_raw_attention: bool = False,
    beam_size: int = 5,
    max_batch_size: int = 32,
    tokenized: bool = False,
    by_sentence: bool = True,
) -> list[list[Alignment]]:
    """`align` read with several hard-link methods: the attention is computed once and
    each (method, threshold; None = DEFAULT_THRESHOLD) gets its list of alignments."""
    if not methods:
        raise TranslatorError("align_methods needs at least one (method, threshold)")
    _check_methods(m for m, _ in methods)
    if tokenized:
        from translator.detokenize import detokenize

        _check_texts("sources", sources)
        src_d = [detokenize(x, "en") for x in sources]
        tgt_d = None if targets is None else [detokenize(x, "fr") for x in targets]
        natural = align_methods(
            translator, [d.text for d in src_d], None if tgt_d is None else [d.text for d in tgt_d], methods,
            layer=layer, head=head, renormalize=renormalize, return_raw_attention=return_raw_attention,
            beam_size=beam_size, max_batch_size=max_batch_size, by_sentence=by_sentence,
        )  # fmt: skip
        if tgt_d is None:  # translations: one word per token already
            tgt_d = [detokenize(a.target, "fr") for a in natural[0]]
        return [[_over_tokens(a, s, t) for a, s, t in zip(result, src_d, tgt_d, strict=True)] for result in natural]
    _check_texts("sources", sources)
    if targets is not None:
        _check_texts("targets", targets)
        if len(targets) != len(sources):
            raise TranslatorError(f"got {len(sources)} sources but {len(targets)} targets; they must pair up")
    n_layers, n_heads = translator.config.decoder_layers, translator.config.n_heads
    if layer is None:
        layer, head = model_view(translator.config, head)
    resolve_layers(layer, n_layers)  # validate before the expensive part
    select_attention(torch.zeros(n_layers, n_heads, 1, 1), layer, head)
    if not sources:
        return [[] for _ in methods]
    src_ids = _encode(translator, "source", sources)
    tok = translator.tokenizer
    if targets is not None:
        tgt_ids = _encode(translator, "target", targets)
        raws = _paired_attention(translator, sources, targets, src_ids, tgt_ids, max_batch_size, by_sentence)
        tgt_texts = list(targets)
        src_pieces = [tok.pieces(ids) for ids in src_ids]
        tgt_pieces = [tok.pieces(ids) for ids in tgt_ids]
    else:
        results = translator.translate(
            sources, beam_size=beam_size, return_attention=True, max_batch_size=max_batch_size
        )
        raws, tgt_texts, src_pieces, tgt_pieces = [], [], [], []
        for r in results:
            best = r.hypotheses[0]
            if best.attention is None:
                raise TranslatorError("the engine returned no cross-attention")
            raws.append(best.attention)
            tgt_texts.append(best.text)
            src_pieces.append(r.source_tokens)
            tgt_pieces.append(best.target_tokens)
    out: list[list[Alignment]] = [[] for _ in methods]
    for src, tgt, raw, sp, tp in zip(sources, tgt_texts, raws, src_pieces, tgt_pieces, strict=True):
        sw, tw = src.split(), tgt.split()
        words, null = word_attention(raw, sp, tp, sw, tw, layer, head, renormalize, translator.config.alignment_null)
        for result, (method, threshold) in zip(out, methods, strict=True):
            result.append(
                Alignment(
                    source=src,
                    target=tgt,
                    source_words=sw,
                    target_words=tw,
                    source_tokens=list(sp),
                    target_tokens=list(tp),
                    links=hard_links(words, method, DEFAULT_THRESHOLD if threshold is None else threshold, null),
                    attention=words,
                    raw_attention=raw if return_raw_attention else None,
                )
            )
    return out


def adapted(
    translator: Translator,
    sources: Sequence[str],
    targets: Sequence[str],
    *,
    steps: int,
    guide: Sequence[Sequence[Sequence[tuple[int, int]]]] | None = None,
    tokenized: bool = False,
    **options: Any,
) -> Translator:
    """`translator.adapt.adapt` on the pairs as `align` takes them: with `tokenized`,
    the model is adapted on their natural form and the guide links (over the given
    tokens) are carried over to the natural words. `options` go to `adapt`. The pairs
    are checked (paired up, no empty side, within the length limit) before training."""
    from translator.adapt import adapt

    _check_texts("sources", sources)
    _check_texts("targets", targets)
    if len(targets) != len(sources):
        raise TranslatorError(f"got {len(sources)} sources but {len(targets)} targets; they must pair up")
    if tokenized:
        from translator.detokenize import detokenize, to_word_links

        src_d = [detokenize(x, "en") for x in sources]
        tgt_d = [detokenize(x, "fr") for x in targets]
        if guide is not None:
            if len(guide) != len(sources):
                raise TranslatorError(f"got {len(guide)} sets of guide links for {len(sources)} pairs")
            pairs = zip(guide, src_d, tgt_d, strict=True)
            guide = [[to_word_links(links, s, t) for links in runs] for runs, s, t in pairs]
        sources, targets = [d.text for d in src_d], [d.text for d in tgt_d]
    _encode(translator, "source", sources)  # over-long texts are refused now, not after training
    _encode(translator, "target", targets)
    return adapt(translator, sources, targets, steps=steps, guide=guide, **options)


# the candidates of the gold-free method choice, (method, threshold), as fixed in
# reports/guided_alignment.md (thresholds were tried too: with many aligner runs, the
# consensus reference's union of all runs rewarded low thresholds, not better links)
AUTO_CANDIDATES: tuple[tuple[str, float | None], ...] = (
    ("grow-diag-final-and", None),
    ("intersection", None),
    ("t2s", None),
)


@dataclasses.dataclass
class MethodChoice:
    """The outcome of `choose_method`: the method (and threshold) whose links agree best
    with the aligner runs, that agreement as an AER, and every candidate's."""

    method: str
    threshold: float | None
    agreement_aer: float
    candidates: list[tuple[str, float | None, float]]

    @property
    def name(self) -> str:
        return method_label(self.method, self.threshold)


def method_label(method: str, threshold: float | None) -> str:
    """A method as reports and logs name it: "t2s", "threshold 0.3"."""
    return method if threshold is None else f"{method} {threshold}"


def choose_method(
    translator: Translator,
    sources: Sequence[str],
    targets: Sequence[str],
    runs: Sequence[Sequence[Sequence[tuple[int, int]]]],
    *,
    tokenized: bool = False,
    candidates: Sequence[tuple[str, float | None]] = AUTO_CANDIDATES,
    **options: Any,
) -> MethodChoice:
    """Choose the hard-link method without gold links: the candidate whose links have the
    lowest AER against the consensus of an unsupervised aligner's runs (per pair, one
    or more link sets over the given words, e.g. the eflomal guide of guided
    adaptation; sure = links most runs agree on, possible = links of any run:
    `translator.aer.consensus_gold`). `options` go to `align_methods` (layer, head, ...)."""
    from translator.aer import consensus_gold, score

    if not candidates:
        raise TranslatorError("choose_method needs at least one candidate method")
    if len(runs) != len(sources):
        raise TranslatorError(f"got {len(runs)} sets of aligner links for {len(sources)} pairs")
    reference = consensus_gold(runs)
    results = align_methods(translator, sources, targets, candidates, tokenized=tokenized, **options)
    scored = []
    for (method, threshold), result in zip(candidates, results, strict=True):
        hyp = [{(i, j) for i, j, _ in a.links} for a in result]
        scored.append((method, threshold, float(score(reference, hyp)["aer"])))
    method, threshold, best = min(scored, key=lambda c: c[2])  # ties: the earlier candidate
    return MethodChoice(method, threshold, best, scored)


def _over_tokens(a: Alignment, source: Detokenized, target: Detokenized) -> Alignment:
    """An alignment of natural words reported over the given tokens."""
    from translator.detokenize import to_token_links

    src_word = [w for w, group in enumerate(source.groups) for _ in group]
    tgt_word = [w for w, group in enumerate(target.groups) for _ in group]
    return dataclasses.replace(
        a,
        source=" ".join(source.tokens),
        target=" ".join(target.tokens),
        source_words=list(source.tokens),
        target_words=list(target.tokens),
        links=to_token_links(a.links, source, target),
        attention=a.attention[tgt_word][:, src_word],
    )


def parse_layer(value: str) -> Layer:
    """CLI form of `layer`: "mean", "default", an int, or comma-separated ints."""
    value = value.strip()
    if value in ("mean", "all"):
        return "mean"
    if value in ("", "default"):
        return None
    try:
        items = [int(x) for x in value.split(",")]
    except ValueError:
        raise TranslatorError(
            f"--layer must be an integer, a comma-separated list, 'mean' or 'default': {value!r}"
        ) from None
    return items[0] if len(items) == 1 else items


def parse_head(value: str) -> Head:
    value = value.strip()
    if value in ("mean", "all"):
        return "mean"
    try:
        return int(value)
    except ValueError:
        raise TranslatorError(f"--head must be an integer or 'mean': {value!r}") from None
