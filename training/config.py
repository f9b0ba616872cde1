"""`TrainConfig`: defaults, then a YAML preset, then `--set key=value` overrides."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from translator.config import ModelConfig, from_dict
from translator.errors import TranslatorError

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    # data
    data_dir: str = "data/multi30k"
    train_split: str = "train"
    val_split: str = "val"
    max_train_examples: int = 0  # 0 = all
    max_len: int = 128  # longer training pairs (in tokens) are skipped
    spm_model_type: str = "unigram"
    spm_alpha: float = 0.0  # >0: subword-regularisation sampling of the training data
    # optimisation
    max_tokens: int = 4096  # per batch, padded source or target tokens, whichever is larger
    lr: float = 7e-4
    warmup_steps: int = 1000
    # inverse_sqrt: warm-up, then lr * sqrt(warmup / step). linear: warm-up, then a straight
    # line down to 0 at decay_steps (for a run with a known step budget; set max_steps with it).
    lr_schedule: str = "inverse_sqrt"
    decay_steps: int = 0
    betas: tuple[float, float] = (0.9, 0.98)
    adam_eps: float = 1e-9
    weight_decay: float = 0.0
    label_smoothing: float = 0.1
    clip_norm: float = 1.0
    precision: str = "fp32"  # fp32 | bf16 | fp16 (fp16 needs CUDA) | auto
    # schedule and selection
    max_epochs: int = 100
    max_steps: int = 0  # 0 = no limit
    max_minutes: float = 0.0  # cumulative training wall time over all resumes; 0 = no limit
    eval_every: int = 500
    save_every: int = 100
    keep_checkpoints: int = 5
    patience: int = 10  # evaluations without a better validation BLEU before stopping
    average_checkpoints: int = 5
    eval_beam: int = 1
    eval_max_sentences: int = 0  # 0 = the whole validation split
    # Guided alignment (Garg et al. 2019): supervise the cross-attention of
    # model.alignment_layer / model.alignment_head with word alignments of the training
    # data (`translator align-corpus`: Pharaoh over whitespace words, one line per pair).
    alignment_file: str = ""  # relative to data_dir, or a path; "" = off
    alignment_weight: float = 0.05
    init_from: str = ""  # a model bundle to start from (its weights and SentencePiece model)
    seed: int = 1
    threads: int = 0  # 0 = torch's default
    log_every: int = 50

    def validate(self) -> None:
        if self.alignment_file and self.model.alignment_layer is None:
            raise TranslatorError("alignment_file needs model.alignment_layer (the decoder layer to supervise)")
        if self.precision not in ("fp32", "bf16", "fp16", "auto"):
            raise TranslatorError(f"precision must be fp32, bf16, fp16 or auto, got {self.precision!r}")
        if self.lr_schedule not in ("inverse_sqrt", "linear"):
            raise TranslatorError(f"lr_schedule must be inverse_sqrt or linear, got {self.lr_schedule!r}")
        if self.lr_schedule == "linear" and self.decay_steps <= self.warmup_steps:
            raise TranslatorError(
                f"lr_schedule linear needs decay_steps > warmup_steps ({self.warmup_steps}), got {self.decay_steps}"
            )
        if self.max_tokens < self.max_len:
            raise TranslatorError(f"max_tokens ({self.max_tokens}) must be >= max_len ({self.max_len})")
        if self.eval_every <= 0 or self.save_every <= 0:
            raise TranslatorError("eval_every and save_every must be positive")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


def _parse_value(text: str) -> Any:
    """A `--set` value as YAML, except that numbers such as 3e-4 (a string in YAML 1.1) are numbers."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return yaml.safe_load(text)


def _field_type(key: str) -> Any:
    """The annotated type of `key` ("lr", "model.d_ff"); None for an unknown key (from_dict names it)."""
    cls: Any = TrainConfig
    *parents, leaf = key.split(".")
    for p in parents:
        hint = typing.get_type_hints(cls).get(p)
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            return None
        cls = hint
    return typing.get_type_hints(cls).get(leaf)


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", None) or str(tp)


def _coerce(key: str, text: str, value: Any) -> Any:
    """`value` (parsed from `text`) checked against the type of field `key`: a one-line error if it does not fit."""
    tp = _field_type(key)
    if tp is None:
        return value
    options = typing.get_args(tp) if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union else (tp,)
    for option in options:
        if option is type(None):
            if value is None:
                return None
        elif option is bool:
            if isinstance(value, bool):
                return value
        elif option is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif option is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        elif option is str:
            if isinstance(value, str):
                return value
            if value is not None and not isinstance(value, (list, dict)):
                return text  # `data_dir=2024` is the directory "2024"
        elif typing.get_origin(option) is tuple:
            args = typing.get_args(option)
            if (
                isinstance(value, list)
                and len(value) == len(args)
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            ):
                return [float(v) for v in value]
        else:
            return value
    expected = " or ".join("null" if o is type(None) else _type_name(o) for o in options)
    raise TranslatorError(f"--set {key}: expected {expected}, got {text!r}")


def load_train_config(preset: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Resolve a config: defaults <- preset (a name in presets/ or a YAML path) <- overrides."""
    data: dict[str, Any] = {}
    if preset is not None:
        path = Path(preset)
        if not path.suffix:
            path = PRESETS_DIR / f"{preset}.yaml"
        if not path.is_file():
            names = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
            raise TranslatorError(f"config {preset!r} not found (presets: {names})")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:
            raise TranslatorError(f"{path} is not a YAML config (not UTF-8 text)") from None
        except OSError as exc:
            raise TranslatorError(f"cannot read {path}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TranslatorError(f"{path} is not valid YAML: {first}") from None
        if not isinstance(data, dict):
            raise TranslatorError(f"{path}: expected a mapping at the top level")
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise TranslatorError(f"override {item!r} is not key=value")
        target = data
        *parents, leaf = key.split(".")
        for p in parents:
            target = target.setdefault(p, {})
            if not isinstance(target, dict):
                raise TranslatorError(f"--set {key}: {p} is not a section")
        try:
            parsed = _parse_value(value)
        except yaml.YAMLError:
            raise TranslatorError(f"--set {key}: cannot parse the value {value!r}") from None
        target[leaf] = _coerce(key, value, parsed)
    model = from_dict(ModelConfig, data.pop("model", {}) or {}, where="model")
    if "betas" in data:
        data["betas"] = tuple(data["betas"])
    cfg = from_dict(TrainConfig, {**data, "model": model}, where="train config")
    return cfg


def config_from_dict(d: dict[str, Any]) -> TrainConfig:
    d = dict(d)
    model = from_dict(ModelConfig, d.pop("model"), where="model")
    d["betas"] = tuple(d["betas"])
    return from_dict(TrainConfig, {**d, "model": model}, where="train config")
