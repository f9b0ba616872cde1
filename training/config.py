"""`TrainConfig`: defaults, then a YAML preset, then `--set key=value` overrides."""

from __future__ import annotations

import dataclasses
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
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise TranslatorError(f"{path} is not valid YAML: {exc}") from None
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
        target[leaf] = _parse_value(value)
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
