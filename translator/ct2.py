"""CTranslate2 baseline: convert a bundle to a CTranslate2 model, translate token ids with it.

`convert_bundle` writes a CTranslate2 model folder (model.bin, config.json,
shared_vocabulary.json, plus our spm.model and `translator_source.json`)
with CTranslate2's own spec API: a `ctranslate2.converters.Converter`
subclass fills a `TransformerSpec` from the bundle, and CTranslate2 validates,
de-duplicates (the one shared embedding is stored once), quantizes and saves it.

The mapping, checked by tests/integration/test_ct2.py (greedy: same tokens,
same scores to ~1e-5):

* positions: CTranslate2's built-in sinusoids start at position 1, ours at 0,
  so our exact table (`sinusoidal_positions`, max_positions rows) is stored
  explicitly in `{encoder,decoder}/position_encodings/encodings`;
* embeddings are scaled by sqrt(d_model) (`scale_embeddings`); the source,
  target and output-projection matrices are the same array (no output bias);
* `layer_norm_epsilon` is written to config.json (1e-5, read from the model)
  instead of relying on CTranslate2's default;
* the vocabulary is the SentencePiece pieces in id order; unk/bos/eos and
  the decoder start token are the pieces at our ids, and `add_source_eos`
  makes CTranslate2 append EOS to each source, as our engines do;
* the cross-attention CTranslate2 can return is the last layer, averaged
  over all heads (`alignment_layer=-1`, `alignment_heads=0`); CTranslate2
  leaves out the column of the source EOS it added, which `Ct2Engine` puts
  back (1 minus the other columns).

`Ct2Engine` is a *higher-level* baseline than the engines behind
`translator.search`: CTranslate2 runs its own C++ greedy/beam search and has
no per-step interface (feed a token, reorder hypotheses), so it cannot
implement `StepModel`. It translates whole batches of token ids, with the
options set so that the search matches ours:

* length penalty: `return_end_token=True`, so CTranslate2 normalises by the
  length *including* EOS like we do (it strips EOS from the length otherwise);
* `min_decoding_length=0` (CTranslate2 forbids EOS at the first step by
  default) and `max_input_length=0` (no silent truncation of sources);
* beam search is the same fairseq-style algorithm (top 2k candidates, EOS in
  the first k finishes a hypothesis, a sentence stops with k finished), so the
  best hypothesis agrees. The n-best tail can differ: on the step that brings
  a sentence to k finished hypotheses CTranslate2 keeps every EOS among the
  first k candidates (ours keeps only up to k), and with `length_penalty=0`
  it stops as soon as the best beam finishes;
* CTranslate2 4.8's beam search on CPU returns a wrong attention row for the
  first target token when a batch holds several sentences; that row does not
  depend on the search, so it is taken from a one-step greedy run;
* length limit: ours is per sentence, `min(max_length, int(ratio*src_len)+10)`
  target tokens, and at the limit only EOS may follow. CTranslate2 has one
  `max_decoding_length` per call and does not force EOS there. We pass the
  largest limit of the call (+1 for EOS), then cut every hypothesis that runs
  past its own sentence's limit and re-score the cut hypothesis with EOS
  (`score_batch`). For greedy search this is exactly our result; for beam
  search it can differ only for sentences that reach their limit (degenerate,
  repeating outputs), where our search finishes all k beams with EOS.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from translator.bundle import CONFIG, TOKENIZER, load_bundle, read_manifest
from translator.config import DecodeConfig, ModelConfig
from translator.errors import TranslatorError
from translator.model import Transformer, sinusoidal_positions
from translator.search import Hypothesis

try:
    import ctranslate2
    from ctranslate2.converters import Converter
    from ctranslate2.specs import common_spec, transformer_spec
    from ctranslate2.specs.model_spec import ACCEPTED_MODEL_TYPES
except ImportError as exc:  # pragma: no cover - depends on the optional extra
    raise TranslatorError(
        "the CTranslate2 baseline needs the `ctranslate2` package: pip install 'translator[ct2]'"
    ) from exc

logger = logging.getLogger(__name__)

SOURCE_INFO = "translator_source.json"
VOCABULARY = "shared_vocabulary.json"
QUANTIZATIONS = (None, *ACCEPTED_MODEL_TYPES)


# --- conversion ----------------------------------------------------------------


def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float32).cpu().numpy()


def _set_linear(spec: Any, *linears: nn.Linear) -> None:
    """Weight (out, in) and bias of one linear layer, or of several fused along the output axis."""
    spec.weight = np.concatenate([_array(lin.weight) for lin in linears])
    spec.bias = np.concatenate([_array(lin.bias) for lin in linears])


def _set_layer_norm(spec: Any, norm: nn.LayerNorm) -> None:
    spec.gamma = _array(norm.weight)
    spec.beta = _array(norm.bias)


def _layer_norm_eps(model: Transformer) -> float:
    eps = {m.eps for m in model.modules() if isinstance(m, nn.LayerNorm)}
    if len(eps) != 1:
        raise TranslatorError(f"CTranslate2 needs one layer norm epsilon for the whole model, found {sorted(eps)}")
    return eps.pop()


class BundleConverter(Converter):
    """CTranslate2 converter for our bundles; `convert()` (from the base class) validates and saves."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = Path(model_dir)

    def _load(self) -> Any:
        model, tokenizer, _ = load_bundle(self.model_dir)
        cfg = model.cfg
        spec = transformer_spec.TransformerSpec.from_config(
            (cfg.encoder_layers, cfg.decoder_layers),
            cfg.n_heads,
            pre_norm=True,
            no_final_norm=False,
            activation=common_spec.Activation.RELU,
            alignment_layer=-1,
            alignment_heads=0,  # average all heads of the last layer
        )
        embed = _array(model.embed.weight)  # one array: stored once, aliased by CTranslate2
        positions = _array(sinusoidal_positions(cfg.max_positions, cfg.d_model))

        enc = spec.encoder
        enc.embeddings[0].weight = embed
        enc.scale_embeddings = True
        enc.position_encodings.encodings = positions
        for layer_spec, layer in zip(enc.layer, model.encoder_layers, strict=True):
            attn = layer.self_attn
            _set_layer_norm(layer_spec.self_attention.layer_norm, layer.norm1)
            _set_linear(layer_spec.self_attention.linear[0], attn.q_proj, attn.k_proj, attn.v_proj)
            _set_linear(layer_spec.self_attention.linear[1], attn.out_proj)
            _set_layer_norm(layer_spec.ffn.layer_norm, layer.norm2)
            _set_linear(layer_spec.ffn.linear_0, layer.ff.linear1)
            _set_linear(layer_spec.ffn.linear_1, layer.ff.linear2)
        _set_layer_norm(enc.layer_norm, model.encoder_norm)

        dec = spec.decoder
        dec.embeddings.weight = embed
        dec.scale_embeddings = True
        dec.position_encodings.encodings = positions
        dec.projection.weight = embed  # tied output projection, no bias
        for dec_spec, dec_layer in zip(dec.layer, model.decoder_layers, strict=True):
            sa, ca = dec_layer.self_attn, dec_layer.cross_attn
            _set_layer_norm(dec_spec.self_attention.layer_norm, dec_layer.norm1)
            _set_linear(dec_spec.self_attention.linear[0], sa.q_proj, sa.k_proj, sa.v_proj)
            _set_linear(dec_spec.self_attention.linear[1], sa.out_proj)
            _set_layer_norm(dec_spec.attention.layer_norm, dec_layer.norm2)
            _set_linear(dec_spec.attention.linear[0], ca.q_proj)
            _set_linear(dec_spec.attention.linear[1], ca.k_proj, ca.v_proj)
            _set_linear(dec_spec.attention.linear[2], ca.out_proj)
            _set_layer_norm(dec_spec.ffn.layer_norm, dec_layer.norm3)
            _set_linear(dec_spec.ffn.linear_0, dec_layer.ff.linear1)
            _set_linear(dec_spec.ffn.linear_1, dec_layer.ff.linear2)
        _set_layer_norm(dec.layer_norm, model.decoder_norm)

        pieces = tokenizer.pieces(list(range(cfg.vocab_size)))
        if len(set(pieces)) != len(pieces):
            raise TranslatorError(f"{self.model_dir / TOKENIZER}: duplicate pieces, CTranslate2 maps tokens by name")
        spec.register_source_vocabulary(pieces)
        spec.register_target_vocabulary(pieces)
        config = spec.config
        config.unk_token = pieces[cfg.unk_id]
        config.bos_token = pieces[cfg.bos_id]
        config.eos_token = pieces[cfg.eos_id]
        config.decoder_start_token = pieces[cfg.bos_id]
        config.add_source_bos = False
        config.add_source_eos = True
        config.layer_norm_epsilon = _layer_norm_eps(model)
        spec.register_file(str(self.model_dir / TOKENIZER))
        return spec


def convert_bundle(model_dir: Path, out_dir: Path, quantization: str | None = None, *, force: bool = False) -> Path:
    """Convert the bundle in `model_dir` to a CTranslate2 model folder `out_dir`.

    `quantization` is None (float32 weights) or one of CTranslate2's weight
    types: int8, int8_float32, int8_float16, int8_bfloat16, int16, float16,
    bfloat16, float32. An existing `out_dir` is replaced only with `force`.
    The folder is written next to `out_dir` and moved into place at the end.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if quantization not in QUANTIZATIONS:
        raise TranslatorError(
            f"unknown quantization {quantization!r}; choose one of: {', '.join(ACCEPTED_MODEL_TYPES)}"
        )
    if out_dir.exists() and not force:
        raise TranslatorError(f"{out_dir} already exists (use force=True to replace it)")
    manifest = read_manifest(model_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp{os.getpid()}")
    try:
        BundleConverter(model_dir).convert(str(tmp), quantization=quantization, force=True)
        info = {
            "bundle": str(model_dir.resolve()),
            "name": manifest.get("name"),
            "weights_sha256": manifest.get("files", {}).get("weights.pt"),
            "quantization": quantization,
            "ctranslate2_version": ctranslate2.__version__,
            "max_positions": ModelConfig.load(model_dir / CONFIG).max_positions,
        }
        (tmp / SOURCE_INFO).write_text(json.dumps(info, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except ValueError as exc:  # CTranslate2's spec validation
        raise TranslatorError(f"cannot convert {model_dir} to CTranslate2: {exc}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("converted %s to %s (quantization=%s)", model_dir, out_dir, quantization)
    return out_dir


# --- translation -----------------------------------------------------------------


def _with_eos_column(rows: list[list[float]], source_length: int) -> torch.Tensor:
    """(T, 1, 1, S+1) attention from CTranslate2's (T, S) rows.

    CTranslate2 drops the column of the EOS it appended to the source; each
    row is a mean of softmax distributions over all S+1 keys, so the EOS
    weight is what the other columns leave of 1.
    """
    att = torch.tensor(rows, dtype=torch.float32).reshape(len(rows), -1)[:, :source_length]
    eos = (1.0 - att.sum(dim=1, keepdim=True)).clamp(min=0.0)
    return torch.cat([att, eos], dim=1).view(len(rows), 1, 1, source_length + 1)


class Ct2Engine:
    """Translate batches of token ids with a CTranslate2 model made by `convert_bundle`.

    Not a `StepModel` (see the module docstring): `translate_ids` runs
    CTranslate2's own search and returns `translator.search.Hypothesis`
    lists, like `search()`. Hypothesis attention, when asked for, is the last
    decoder layer averaged over heads, shaped (T, 1, 1, S): T target tokens
    including EOS, S source tokens including EOS.
    """

    name = "ctranslate2"

    def __init__(
        self,
        model_path: str | Path,
        *,
        compute_type: str = "default",
        intra_threads: int = 0,
        inter_threads: int = 1,
    ) -> None:
        self.model_path = Path(model_path)
        vocab_path = self.model_path / VOCABULARY
        if not (self.model_path / "model.bin").is_file() or not vocab_path.is_file():
            raise TranslatorError(f"{self.model_path} is not a CTranslate2 model made by convert_bundle")
        config = json.loads((self.model_path / "config.json").read_text())
        self.pieces: list[str] = json.loads(vocab_path.read_text())
        self.ids = {p: i for i, p in enumerate(self.pieces)}
        self.bos_id = self.ids[config["decoder_start_token"]]
        self.eos_id = self.ids[config["eos_token"]]
        self.eos_token = config["eos_token"]
        info_path = self.model_path / SOURCE_INFO
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        self.max_positions: int | None = info.get("max_positions")
        if not config.get("add_source_eos"):
            raise TranslatorError(f"{self.model_path}/config.json: expected add_source_eos=true")
        try:
            self.translator = ctranslate2.Translator(
                str(self.model_path),
                device="cpu",
                compute_type=compute_type,
                intra_threads=intra_threads,
                inter_threads=inter_threads,
            )
        except (RuntimeError, ValueError) as exc:
            raise TranslatorError(f"cannot load CTranslate2 model {self.model_path}: {exc}") from None

    def to_pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.pieces[i] for i in ids]

    def to_ids(self, pieces: Sequence[str]) -> list[int]:
        return [self.ids[p] for p in pieces]

    def translate_ids(
        self, sources: Sequence[Sequence[int]], cfg: DecodeConfig | None = None, *, max_batch_size: int = 0
    ) -> list[list[Hypothesis]]:
        """`cfg.n_best` hypotheses (best first) for each source.

        `sources` are token ids *without* EOS (as `Translator.encode_sources`
        returns them); CTranslate2 appends EOS. An empty source gives one
        empty hypothesis with score 0, as in `Translator.translate`.
        `max_batch_size` > 0 lets CTranslate2 sort and split the call into
        batches of that many sentences.
        """
        cfg = cfg or DecodeConfig(block_repeats=False)
        cfg.validate()
        if cfg.block_repeats:
            raise TranslatorError("CTranslate2 cannot block repeats as `search` does: pass block_repeats=False")
        if not sources:
            return []
        if self.max_positions is not None:  # positions beyond the table do not exist
            cfg = dataclasses.replace(cfg, max_length=min(cfg.max_length, self.max_positions - 1))
            longest = max(len(s) for s in sources)
            if longest + 1 > self.max_positions:
                raise TranslatorError(
                    f"a source is {longest} tokens long; the model has {self.max_positions} positions"
                )
        src_pieces = [self.to_pieces(s) for s in sources]
        limits = [cfg.max_target_length(len(s)) for s in sources]  # as search(): source length without EOS
        results = self.translator.translate_batch(
            src_pieces,
            max_batch_size=max_batch_size,
            beam_size=cfg.beam_size,
            patience=1,
            num_hypotheses=cfg.n_best,
            length_penalty=cfg.length_penalty,
            max_input_length=0,
            max_decoding_length=max(limits) + 1,  # target tokens + EOS
            min_decoding_length=0,
            return_end_token=True,
            return_scores=True,
            return_attention=cfg.return_attention,
        )
        first_rows = self._first_step_attention(src_pieces, max_batch_size) if cfg.return_attention else []
        out: list[list[Hypothesis]] = []
        rescore: list[tuple[int, Hypothesis]] = []  # (sentence, cut hypothesis)
        for n, (res, limit) in enumerate(zip(results, limits, strict=True)):
            if not sources[n]:  # CTranslate2 does not decode empty sources; neither does `Translator`
                out.append([Hypothesis([], 0.0, 0.0, None)])
                continue
            hyps = []
            for h, pieces in enumerate(res.hypotheses):
                tokens = self.to_ids(pieces)
                ended = bool(tokens) and tokens[-1] == self.eos_id
                if ended:
                    tokens = tokens[:-1]
                attention = None
                if cfg.return_attention:
                    rows = [first_rows[n], *res.attention[h][1:]] if cfg.beam_size > 1 else res.attention[h]
                    attention = _with_eos_column(rows, len(sources[n]))[: min(len(tokens), limit) + 1]
                score = float(res.scores[h])
                if ended and len(tokens) <= limit:
                    length = len(tokens) + 1
                    log_prob = score * length**cfg.length_penalty if cfg.length_penalty else score
                    hyps.append(Hypothesis(tokens, score, log_prob, attention))
                else:  # ran past this sentence's limit: cut, end with EOS, score again below
                    hyp = Hypothesis(tokens[:limit], float("nan"), float("nan"), attention)
                    hyps.append(hyp)
                    rescore.append((n, hyp))
            out.append(hyps)
        if rescore:
            self._rescore(src_pieces, rescore, cfg.length_penalty)
            for hyps in out:
                hyps.sort(key=lambda h: h.score, reverse=True)
        return out

    def _first_step_attention(self, src_pieces: list[list[str]], max_batch_size: int) -> list[list[float]]:
        """Attention of the first decoding step (after BOS) of each source.

        Works around CTranslate2 4.8's batched beam search on CPU, which returns
        a wrong first attention row for batches of several sentences (the first
        step runs before the batch is expanded to beams, and the row is then
        gathered with beam-expanded indices); greedy search gets it right, and
        the first step does not depend on the search.
        """
        results = self.translator.translate_batch(
            src_pieces,
            max_batch_size=max_batch_size,
            beam_size=1,
            max_input_length=0,
            max_decoding_length=1,
            min_decoding_length=0,
            return_end_token=True,
            return_attention=True,
        )
        return [r.attention[0][0] if r.attention and r.attention[0] else [] for r in results]

    def _rescore(self, src_pieces: list[list[str]], items: list[tuple[int, Hypothesis]], alpha: float) -> None:
        """Log-probability of each hypothesis followed by EOS, and its normalised score."""
        scored = self.translator.score_batch(
            [src_pieces[n] for n, _ in items], [self.to_pieces(h.tokens) for _, h in items], max_input_length=0
        )
        for (_, hyp), result in zip(items, scored, strict=True):
            log_prob = float(sum(result.log_probs))  # includes EOS
            hyp.log_prob = log_prob
            hyp.score = log_prob / (len(hyp.tokens) + 1) ** alpha if alpha else log_prob

    def score_ids(self, sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]) -> list[list[float]]:
        """Forced decoding: log-probability of each target token and of the final EOS."""
        results = self.translator.score_batch(
            [self.to_pieces(s) for s in sources], [self.to_pieces(t) for t in targets], max_input_length=0
        )
        return [[float(x) for x in r.log_probs] for r in results]
