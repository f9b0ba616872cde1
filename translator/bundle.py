"""The model bundle: a fixed folder layout, checked on load.

    config.json     ModelConfig
    weights.pt      state dict (fp16 to keep the bundle small; loaded as fp32)
    spm.model       the shared SentencePiece model
    truecase.txt    optional: words a sentence's first word is lowercased to (translator/truecase.py)
    words.txt       optional: the training corpus's English words and counts (translator/spelling.py)
    manifest.json   format version, name, SHA-256 of every file, variants

Every check names the file and the problem; nothing here prints a stack trace
for a bad bundle.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from translator import spelling, truecase
from translator.config import ModelConfig
from translator.errors import TranslatorError
from translator.model import Transformer
from translator.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
CONFIG, WEIGHTS, TOKENIZER, MANIFEST = "config.json", "weights.pt", "spm.model", "manifest.json"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "default"


def default_model_dir() -> Path:
    """`$TRANSLATOR_MODEL` if set, else the bundle shipped in the repository."""
    env = os.environ.get("TRANSLATOR_MODEL")
    return Path(env) if env else DEFAULT_MODEL_DIR


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fsync_dir(path: Path) -> None:
    """Make a rename in directory `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name, fsync, rename over `path`, fsync the directory: all or nothing
    (the temporary file is removed if anything fails)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a failed write leaves nothing behind
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def read_manifest(model_dir: Path) -> dict[str, Any]:
    if not model_dir.is_dir():
        raise TranslatorError(f"model directory not found: {model_dir}")
    path = model_dir / MANIFEST
    if not path.is_file():
        raise TranslatorError(f"{model_dir} is not a model bundle: {MANIFEST} is missing")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TranslatorError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        version = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise TranslatorError(f"{path}: unsupported bundle format_version {version!r} (expected {FORMAT_VERSION})")
    return manifest


def verify(model_dir: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists exists and has the recorded checksum."""
    for name, digest in manifest.get("files", {}).items():
        path = model_dir / name
        if not path.is_file():
            raise TranslatorError(f"bundle {model_dir}: {name} is listed in the manifest but missing")
        if sha256(path) != digest:
            raise TranslatorError(
                f"bundle {model_dir}: {name} does not match its manifest checksum (corrupt or edited)"
            )


def write_manifest(model_dir: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """(Re)write the manifest over every file in the bundle, keeping earlier metadata."""
    old: dict[str, Any] = {}
    if (model_dir / MANIFEST).is_file():
        old = json.loads((model_dir / MANIFEST).read_text())
    files = {
        p.relative_to(model_dir).as_posix(): sha256(p)
        for p in sorted(model_dir.rglob("*"))
        if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
    }
    manifest = {**old, **(extra or {}), "format_version": FORMAT_VERSION, "files": files}
    atomic_write_bytes(model_dir / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest


def load_state_dict(path: Path, what: str = "a readable PyTorch file") -> dict[str, Any]:
    """torch.load with weights only, turning every failure into a clear one-line error."""
    if not path.is_file():
        raise TranslatorError(f"file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        # one line: the first of torch's reason, without its advice (weights_only=False is unsafe here)
        lines = [line.strip() for line in str(exc).splitlines()]
        lines = [line for line in lines if line and "weights_only" not in line and not line.startswith("Check the doc")]
        reason = lines[0] if lines else type(exc).__name__
        raise TranslatorError(f"{path} is not {what} (corrupt or truncated: {reason})") from None
    if not isinstance(obj, dict):
        raise TranslatorError(f"{path}: expected a dict, found {type(obj).__name__}")
    return obj


def build_model(cfg: ModelConfig, state: dict[str, Any], where: Path) -> Transformer:
    model = Transformer(cfg)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise TranslatorError(f"{where}: weights do not match config.json: {exc}") from None
    return model.eval()


def word_lists(sentences: Sequence[str]) -> dict[str, bytes]:
    """The bundle's optional files, made from the English side of its training corpus: the
    truecasing words and the speller's word counts, by file name."""
    return {
        truecase.FILE: truecase.file_bytes(truecase.lowercase_words(sentences)),
        spelling.FILE: spelling.file_bytes(spelling.word_counts(sentences)),
    }


def save_bundle(
    model_dir: Path,
    model: Transformer,
    spm_model: Path,
    name: str,
    extra: dict[str, Any] | None = None,
    files: dict[str, bytes] | None = None,
) -> None:
    """Write a complete bundle (fp16 weights, `files` by name) and its manifest."""
    model_dir.mkdir(parents=True, exist_ok=True)
    model.cfg.save(model_dir / CONFIG)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save(half, buf)
    atomic_write_bytes(model_dir / WEIGHTS, buf.getvalue())
    atomic_write_bytes(model_dir / TOKENIZER, spm_model.read_bytes())
    for file, data in (files or {}).items():
        atomic_write_bytes(model_dir / file, data)
    write_manifest(model_dir, {"name": name, **(extra or {})})


def load_bundle(model_dir: Path) -> tuple[Transformer, Tokenizer, dict[str, Any]]:
    """Verified model, tokenizer and manifest of a bundle."""
    manifest = read_manifest(model_dir)
    verify(model_dir, manifest)
    cfg = ModelConfig.load(model_dir / CONFIG)
    model = build_model(cfg, load_state_dict(model_dir / WEIGHTS), model_dir / WEIGHTS)
    tokenizer = Tokenizer(model_dir / TOKENIZER)
    if tokenizer.vocab_size != cfg.vocab_size:
        raise TranslatorError(
            f"bundle {model_dir}: tokenizer has {tokenizer.vocab_size} pieces but config.json says {cfg.vocab_size}"
        )
    return model, tokenizer, manifest
