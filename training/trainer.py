"""The trainer: one loop for CPU, a GPU with mixed precision, and many GPUs with torchrun.

A run lives in one output directory:

    train_config.yaml   the resolved TrainConfig (a rerun must match it)
    spm.model           the shared SentencePiece model
    checkpoints/        last.pt (full state, for resume), step*.pt (for averaging)
    log.csv, eval.csv   training and validation logs
    model/              the final bundle (best of: averaged, best single)

Killing the process at any moment loses at most `save_every` steps: the same
command resumes from `checkpoints/last.pt` with the same model, optimizer,
scheduler, RNG and data position, so the result equals an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import logging
import math
import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import sacrebleu
import torch
import torch.distributed as dist
import torch.nn.functional as F
import yaml
from torch import nn

from training.batching import Example, collate, make_batches
from training.checkpoint import average_checkpoints, load_checkpoint, remove_quietly, save_checkpoint
from training.config import TrainConfig, config_from_dict
from training.data import read_parallel, split_paths
from training.guided_alignment import (
    PieceLinks,
    WordLinks,
    alignment_loss,
    alignment_targets,
    piece_links,
    read_word_links,
)
from translator.bundle import atomic_write_bytes, save_bundle, word_lists
from translator.config import DecodeConfig
from translator.errors import TranslatorError
from translator.model import Transformer
from translator.progress import progress_bar
from translator.search import search
from translator.tokenizer import Tokenizer, train_sentencepiece
from translator.torch_engine import TorchEngine

logger = logging.getLogger(__name__)

# Keys that may change between a run and its resumption: they only bound the run.
RESUMABLE_KEYS = {"max_steps", "max_epochs", "max_minutes", "threads", "log_every", "patience"}


@dataclasses.dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def setup_distributed() -> Dist:
    """Single process, or one process per device under torchrun (DDP)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
        dist.init_process_group("nccl")
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    return Dist(dist.get_rank(), world, device)


def cpu_has_fast_bf16() -> bool:
    """Whether oneDNN computes bf16 on this CPU with AVX-512 or AMX. Without them bf16
    matrix multiplies take a slow reference path: a bf16 training step was 16 times slower
    than fp32 on an AVX2-only CPU (reports/training_notes.md)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """None means full fp32; fp16 needs CUDA (with a gradient scaler). `auto` is bf16
    on a GPU that has it (else fp16) and on a CPU that computes it fast (else fp32)."""
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_has_fast_bf16() else None
    if precision == "fp16" and device.type != "cuda":
        raise TranslatorError("precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
    if precision == "bf16" and device.type == "cpu" and not cpu_has_fast_bf16():
        logger.warning(
            "precision bf16: this CPU has no AVX-512 or AMX bf16 support, so bf16 autocast runs far "
            "slower than fp32 here; use precision auto (which picks fp32 on this CPU) or fp32"
        )
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def inverse_sqrt(warmup: int) -> Any:
    def factor(step: int) -> float:
        step = max(step, 1)
        return min(step / warmup, math.sqrt(warmup / step))

    return factor


def linear_decay(warmup: int, decay_steps: int) -> Any:
    def factor(step: int) -> float:
        step = max(step, 1)
        return min(step / warmup, max(0.0, (decay_steps - step) / (decay_steps - warmup)))

    return factor


def lr_factor(cfg: TrainConfig) -> Any:
    """The learning-rate multiplier per step that `cfg.lr_schedule` names."""
    if cfg.lr_schedule == "linear":
        return linear_decay(cfg.warmup_steps, cfg.decay_steps)
    return inverse_sqrt(cfg.warmup_steps)


def label_smoothed_loss(logits: torch.Tensor, target: torch.Tensor, eps: float, pad: int) -> tuple[torch.Tensor, int]:
    """Summed label-smoothed cross-entropy over non-pad tokens, and their count."""
    loss = F.cross_entropy(
        logits.float().view(-1, logits.size(-1)),
        target.view(-1),
        ignore_index=pad,
        label_smoothing=eps,
        reduction="sum",
    )
    return loss, int((target != pad).sum())


class Trainer:
    def __init__(self, cfg: TrainConfig, out_dir: Path, *, progress: bool = True) -> None:
        self.cfg = cfg
        self.out = out_dir
        self.ckpt_dir = out_dir / "checkpoints"
        self.progress = progress
        self.dist = setup_distributed()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self._check_run_dir()
        self.amp_dtype = autocast_dtype(cfg.precision, self.dist.device)
        logger.info("precision %s: %s on %s", cfg.precision, self.amp_dtype or "fp32", self.dist.device)
        self.tokenizer = self._tokenizer()
        self.train_src, self.train_tgt = self._read(cfg.train_split)
        if cfg.max_train_examples:
            self.train_src = self.train_src[: cfg.max_train_examples]
            self.train_tgt = self.train_tgt[: cfg.max_train_examples]
        self.train_links = self._word_links()
        self.val_src, self.val_ref = self._read(cfg.val_split)
        if cfg.eval_max_sentences:
            self.val_src = self.val_src[: cfg.eval_max_sentences]
            self.val_ref = self.val_ref[: cfg.eval_max_sentences]
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.model = Transformer(cfg.model).to(self.dist.device)
        if cfg.init_from:
            self.model.load_state_dict(self._init_weights())
        self.ddp: nn.Module = self.model
        if self.dist.world > 1:
            ids = [self.dist.device.index] if self.dist.device.type == "cuda" else None
            self.ddp = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.adam_eps, weight_decay=cfg.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor(cfg))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.state: dict[str, Any] = {
            "step": 0, "epoch": 0, "batch": 0, "train_seconds": 0.0, "tokens": 0,
            "best_bleu": -1.0, "best_step": 0, "bad_evals": 0, "evals": [], "finished": False,
        }  # fmt: skip
        self._examples_epoch = -1
        self._examples: list[Example] = []
        self._piece_links: list[PieceLinks] = []  # per example, with guided alignment

    # --- setup ------------------------------------------------------------
    def _check_run_dir(self) -> None:
        path = self.out / "train_config.yaml"
        new = self.cfg.to_dict()
        if self.out.exists() and not self.out.is_dir():
            raise TranslatorError(f"--out {self.out} is a file, not a run directory")
        if path.is_file():
            # through the dataclass, so that fields added since (with their defaults) are not changes
            old = config_from_dict(yaml.safe_load(path.read_text())).to_dict()
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in RESUMABLE_KEYS)
            if changed:
                raise TranslatorError(
                    f"{self.out} holds a run with a different config ({', '.join(changed)} changed); "
                    "use another --out or the same settings"
                )
        # the inputs first: a command that fails on them leaves nothing that blocks the corrected one
        self._check_inputs()
        if self.dist.main:
            try:
                self.out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise TranslatorError(f"cannot create the run directory {self.out}: {exc.strerror or exc}") from None
            atomic_write_bytes(path, yaml.safe_dump(new, sort_keys=False).encode())

    def _check_inputs(self) -> None:
        """The data files, the alignment file and the init_from bundle exist (cheap checks, before writing)."""
        for split in (self.cfg.train_split, self.cfg.val_split):
            for p in split_paths(Path(self.cfg.data_dir), split):
                if not p.is_file():
                    self._missing_data(p)
        if self.cfg.alignment_file and not self._alignment_path().is_file():
            raise TranslatorError(
                f"alignment file {self.cfg.alignment_file} not found: "
                "create it with `translator align-corpus --data DIR`"
            )
        if self.cfg.init_from and not (Path(self.cfg.init_from) / "spm.model").is_file():
            raise TranslatorError(f"init_from {self.cfg.init_from} is not a model bundle (no spm.model)")

    def _read(self, split: str) -> tuple[list[str], list[str]]:
        src, tgt = split_paths(Path(self.cfg.data_dir), split)
        if not src.exists():
            self._missing_data(src)
        return read_parallel(src, tgt)

    def _missing_data(self, path: Path) -> NoReturn:
        raise TranslatorError(
            f"{path} not found: fetch the data first with `translator data --out {self.cfg.data_dir}`"
        )

    def _alignment_path(self) -> Path:
        """`alignment_file`, or the file of that name in `data_dir`."""
        path = Path(self.cfg.alignment_file)
        return path if path.is_absolute() or path.exists() else Path(self.cfg.data_dir) / path

    def _word_links(self) -> list[WordLinks] | None:
        if not self.cfg.alignment_file:
            return None
        return read_word_links(self._alignment_path(), len(self.train_src), prefix=bool(self.cfg.max_train_examples))

    def _init_weights(self) -> dict[str, torch.Tensor]:
        """The weights of the `init_from` bundle (fine-tuning); its shape must match the config."""
        from translator.bundle import load_bundle

        model, _, _ = load_bundle(Path(self.cfg.init_from))
        mine = self.cfg.model  # dropout and the alignment head may differ; the shape may not
        theirs = dataclasses.replace(model.cfg, dropout=mine.dropout, alignment_layer=mine.alignment_layer,
                                     alignment_head=mine.alignment_head)  # fmt: skip
        if theirs != mine:
            raise TranslatorError(f"init_from {self.cfg.init_from}: its model shape differs from the config's")
        return {k: v.float() for k, v in model.state_dict().items()}

    def _tokenizer(self) -> Tokenizer:
        path = self.out / "spm.model"
        if self.dist.main and not path.is_file() and self.cfg.init_from:
            self.out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(self.cfg.init_from) / "spm.model", path)
        if self.dist.main and not path.is_file():
            src, tgt = self._read(self.cfg.train_split)
            tmp = self.out / "spm-tmp"
            logger.info("training SentencePiece (%d pieces) on %d sentence pairs", self.cfg.model.vocab_size, len(src))
            train_sentencepiece(src + tgt, tmp, self.cfg.model.vocab_size, self.cfg.spm_model_type, self.cfg.seed)
            os.replace(tmp.with_suffix(".model"), path)
            os.replace(tmp.with_suffix(".vocab"), self.out / "spm.vocab")
        self.dist.barrier()
        tok = Tokenizer(path)
        if tok.vocab_size != self.cfg.model.vocab_size:
            raise TranslatorError(
                f"the corpus gives a SentencePiece vocabulary of {tok.vocab_size}, not {self.cfg.model.vocab_size}: "
                f"set model.vocab_size={tok.vocab_size}"
            )
        return tok

    def examples(self, epoch: int) -> list[Example]:
        """Encoded training pairs; with spm_alpha, resampled (deterministically) per epoch."""
        if self._examples_epoch == epoch or (self._examples and not self.cfg.spm_alpha):
            return self._examples
        alpha = self.cfg.spm_alpha
        if alpha:
            import sentencepiece

            sentencepiece.set_random_generator_seed(self.cfg.seed * 100003 + epoch)

        def enc(t: str) -> list[int]:
            return self.tokenizer.sample(t, alpha) if alpha else self.tokenizer.encode(t)

        out, links = [], []
        pieces = self.tokenizer.pieces
        for n, (s, t) in enumerate(zip(self.train_src, self.train_tgt, strict=True)):
            si, ti = enc(s), enc(t)
            if 0 < len(si) < self.cfg.max_len and 0 < len(ti) < self.cfg.max_len:
                out.append((si, ti))
                if self.train_links is not None:
                    words = self.train_links[n]
                    links.append(piece_links(pieces(si), pieces(ti), s.split(), t.split(), words))
        self._examples, self._piece_links, self._examples_epoch = out, links, epoch
        return out

    # --- checkpoints --------------------------------------------------------
    def checkpoint_state(self) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])},
            "state": dict(self.state),
        }

    def save(self, name: str = "last.pt") -> None:
        if self.dist.main:
            save_checkpoint(self.ckpt_dir / name, self.checkpoint_state())

    def resume(self) -> bool:
        path = self.ckpt_dir / "last.pt"
        if not path.is_file():
            return False
        ckpt = load_checkpoint(path)
        saved = config_from_dict(ckpt["config"]).to_dict()
        now = self.cfg.to_dict()
        if any(saved[k] != now[k] for k in now if k not in RESUMABLE_KEYS):
            raise TranslatorError(f"{path} was written with a different config; refusing to resume")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        random.setstate((3, tuple(ckpt["rng"]["python"]), None))
        self.state = dict(ckpt["state"])
        self._truncate_logs(self.state["step"])
        logger.info("resumed from %s at step %d (epoch %d)", path, self.state["step"], self.state["epoch"])
        return True

    def _truncate_logs(self, step: int) -> None:
        """Drop log rows written after the checkpoint, so a resumed run logs each step once."""
        for name in ("log.csv", "eval.csv"):
            path = self.out / name
            if self.dist.main and path.is_file():
                with path.open() as f:
                    rows = list(csv.reader(f))
                kept = [r for r in rows[1:] if int(r[0]) <= step]
                with path.open("w", newline="") as f:
                    csv.writer(f).writerows([rows[0], *kept])

    def _log(self, name: str, row: dict[str, Any]) -> None:
        if not self.dist.main:
            return
        path = self.out / name
        new = not path.is_file()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)

    # --- evaluation ---------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: Transformer | None = None, beam: int | None = None) -> tuple[float, float]:
        """Validation BLEU and chrF (sacreBLEU defaults) of `model` (default: the one training)."""
        model = model or self.model
        was_training = model.training
        engine = TorchEngine(model.eval(), str(self.dist.device))
        cfg = DecodeConfig(beam_size=beam or self.cfg.eval_beam)
        hyps: list[str] = [""] * len(self.val_src)
        ids = [self.tokenizer.encode(s)[: self.cfg.model.max_positions - 2] for s in self.val_src]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        for b in range(0, len(order), 64):
            idx = order[b : b + 64]
            out = search(engine, [ids[i] + [self.cfg.model.eos_id] for i in idx], cfg)
            for i, h in zip(idx, out, strict=True):
                hyps[i] = self.tokenizer.decode(h[0].tokens)
        model.train(was_training)
        bleu = sacrebleu.corpus_bleu(hyps, [self.val_ref]).score
        chrf = sacrebleu.corpus_chrf(hyps, [self.val_ref]).score
        return bleu, chrf

    # --- the loop -------------------------------------------------------------
    def batches(self) -> Iterator[tuple[int, int, list[Example], list[PieceLinks] | None]]:
        """(epoch, batch index, examples, their piece links with guided alignment)
        from the saved data position onwards."""
        epoch, start = self.state["epoch"], self.state["batch"]
        while epoch < self.cfg.max_epochs:
            examples = self.examples(epoch)
            order = make_batches(examples, self.cfg.max_tokens, self.cfg.seed * 1000 + epoch)
            per_rank = len(order) // self.dist.world  # every rank takes the same number of steps
            mine = order[self.dist.rank :: self.dist.world][:per_rank]
            for b in range(start, len(mine)):
                links = [self._piece_links[i] for i in mine[b]] if self._piece_links else None
                yield epoch, b, [examples[i] for i in mine[b]], links
            epoch, start = epoch + 1, 0
        self.state["epoch"], self.state["batch"] = epoch, 0

    def step(self, batch: list[Example], links: list[PieceLinks] | None = None) -> tuple[float, int]:
        cfg, dev = self.cfg.model, self.dist.device
        src, tgt_in, tgt_out = (t.to(dev) for t in collate(batch, cfg.pad_id, cfg.bos_id, cfg.eos_id))
        amp = torch.autocast(dev.type, dtype=self.amp_dtype) if self.amp_dtype is not None else contextlib.nullcontext()
        with amp:
            logits, attn = self.ddp(src, tgt_in, need_weights=links is not None)
        loss, ntok = label_smoothed_loss(logits, tgt_out, self.cfg.label_smoothing, cfg.pad_id)
        objective = loss / max(ntok, 1)
        if links is not None and cfg.alignment_layer is not None:
            target = alignment_targets(links, tgt_in.size(1), src.size(1)).to(dev)
            objective = objective + self.cfg.alignment_weight * alignment_loss(
                attn[cfg.alignment_layer], target, cfg.alignment_head
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(objective).backward()
        self.scaler.unscale_(self.optimizer)
        nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return float(loss.detach()) / max(ntok, 1), ntok

    def _can_continue(self) -> bool:
        """Whether a finished run has anything left to do under the current limits."""
        return self.should_stop() is None and self.state["epoch"] < self.cfg.max_epochs

    def should_stop(self) -> str | None:
        s, c = self.state, self.cfg
        if c.max_steps and s["step"] >= c.max_steps:
            return f"reached max_steps={c.max_steps}"
        if c.max_minutes and s["train_seconds"] >= c.max_minutes * 60:
            return f"reached max_minutes={c.max_minutes}"
        if s["bad_evals"] >= c.patience:
            return f"no better validation BLEU in {c.patience} evaluations (early stopping)"
        return None

    def run_eval(self) -> None:
        s = self.state
        bleu, chrf = self.evaluate()
        name = f"step{s['step']}.pt"
        if bleu > s["best_bleu"]:
            s["best_bleu"], s["best_step"], s["bad_evals"] = bleu, s["step"], 0
        else:
            s["bad_evals"] += 1
        s["evals"].append({"step": s["step"], "bleu": bleu, "chrf": chrf, "file": name})
        self._log("eval.csv", {"step": s["step"], "bleu": round(bleu, 2), "chrf": round(chrf, 2)})
        logger.info(
            "step %d: val BLEU %.2f chrF %.2f (best %.2f at %d)", s["step"], bleu, chrf, s["best_bleu"], s["best_step"]
        )
        self.save(name)
        self.save()
        kept = [e["file"] for e in s["evals"]][-self.cfg.keep_checkpoints :]
        best = f"step{s['best_step']}.pt"
        for e in s["evals"]:
            if e["file"] not in kept and e["file"] != best:
                remove_quietly(self.ckpt_dir / e["file"])

    @contextlib.contextmanager
    def _stop_on_signals(self) -> Iterator[list[str]]:
        """While training, SIGTERM and SIGINT finish the current step, save, and stop.

        Yields the list the handler appends the signal's name to. A second signal
        gets the previous handler (Ctrl-C twice stops at once). Single process only:
        under torchrun the ranks could stop at different steps, so they keep the
        default handlers and resume from the last periodic checkpoint.
        """
        caught: list[str] = []
        if self.dist.world > 1 or threading.current_thread() is not threading.main_thread():
            yield caught
            return
        signals = (signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.getsignal(sig) or signal.SIG_DFL for sig in signals}

        def handler(signum: int, frame: object) -> None:
            caught.append(signal.Signals(signum).name)
            signal.signal(signum, previous[signal.Signals(signum)])

        for sig in signals:
            signal.signal(sig, handler)
        try:
            yield caught
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def train(self) -> Path:
        with self._stop_on_signals() as caught:
            return self._train(caught)

    def _train(self, caught: list[str]) -> Path:
        self.resume()
        s = self.state
        self.model.train()
        if s["finished"] and self._can_continue():
            # a finished run whose limit was raised (max_steps, max_minutes, max_epochs, patience
            # are RESUMABLE_KEYS): train on from its last state to the new limit
            logger.info("continuing the finished run at step %d: a limit was raised", s["step"])
            s["finished"] = False
        reason = None if s["finished"] else self.should_stop()
        bar = progress_bar(
            total=self.cfg.max_steps or None, initial=s["step"], disable=not (self.progress and self.dist.main),
            unit="step",
        )  # fmt: skip
        window_tokens, window_start = 0, time.perf_counter()
        if not s["finished"] and reason is None:
            for epoch, b, batch, links in self.batches():
                t0 = time.perf_counter()
                loss, ntok = self.step(batch, links)
                s["step"] += 1
                s["epoch"], s["batch"] = epoch, b + 1
                s["tokens"] += ntok
                window_tokens += ntok
                s["train_seconds"] += time.perf_counter() - t0
                bar.update(1)
                if s["step"] % self.cfg.log_every == 0:
                    tps = window_tokens / max(time.perf_counter() - window_start, 1e-9)
                    lr = self.scheduler.get_last_lr()[0]
                    bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tps:.0f}", epoch=epoch)
                    row = {"step": s["step"], "epoch": epoch, "loss": round(loss, 4), "lr": f"{lr:.3e}"}
                    row |= {"tgt_tokens_per_s": round(tps), "train_seconds": round(s["train_seconds"], 1)}
                    self._log("log.csv", row)
                    window_tokens, window_start = 0, time.perf_counter()
                if s["step"] % self.cfg.eval_every == 0:
                    t0 = time.perf_counter()
                    if self.dist.main:
                        self.run_eval()
                    s["train_seconds"] += time.perf_counter() - t0
                    window_start = time.perf_counter()
                elif s["step"] % self.cfg.save_every == 0:
                    self.save()
                if caught:
                    self.save()
                    bar.close()
                    raise TranslatorError(
                        f"training interrupted by {caught[0]} at step {s['step']}; saved {self.ckpt_dir / 'last.pt'}; "
                        "run the same command to resume"
                    )
                reason = self.should_stop()
                if reason:
                    break
            reason = reason or f"reached max_epochs={self.cfg.max_epochs}"
            s["finished"] = True
            if self.dist.main and (not s["evals"] or s["evals"][-1]["step"] != s["step"]):
                self.run_eval()
            self.save()
        bar.close()
        logger.info("training stopped: %s", reason or "already finished")
        self.dist.barrier()
        return self.finalize()

    def finalize(self) -> Path:
        """Pick the better of the averaged and the best checkpoint; write the bundle."""
        bundle = self.out / "model"
        if not self.dist.main:
            return bundle
        s = self.state
        best_file = self.ckpt_dir / f"step{s['best_step']}.pt"
        candidates = {"best": (s["best_bleu"], load_checkpoint(best_file)["model"])}
        recent = [self.ckpt_dir / e["file"] for e in s["evals"][-self.cfg.average_checkpoints :]]
        recent = [p for p in recent if p.is_file()]
        if len(recent) > 1:
            avg = Transformer(self.cfg.model)
            avg.load_state_dict(average_checkpoints(recent))
            bleu, _ = self.evaluate(avg)
            logger.info(
                "average of %d checkpoints: val BLEU %.2f (best single %.2f)", len(recent), bleu, s["best_bleu"]
            )
            candidates["average"] = (bleu, avg.state_dict())
        choice = max(candidates, key=lambda k: candidates[k][0])
        final = Transformer(self.cfg.model)
        final.load_state_dict(candidates[choice][1])
        extra = {
            "version": time.strftime("%Y%m%d"),
            "training": {
                "selected": choice,
                "val_bleu_greedy": round(candidates[choice][0], 2),
                "steps": s["step"],
                "epochs": s["epoch"],
                "train_seconds": round(s["train_seconds"], 1),
                "target_tokens": s["tokens"],
                "parameters": final.num_parameters(),
            },
        }
        save_bundle(bundle, final, self.out / "spm.model", name=self.out.name, extra=extra,
                    files=word_lists(self._read(self.cfg.train_split)[0]))  # fmt: skip
        logger.info("wrote model bundle %s (%s, val BLEU %.2f)", bundle, choice, candidates[choice][0])
        return bundle


def train(cfg: TrainConfig, out_dir: Path, *, progress: bool = True) -> Path:
    trainer = Trainer(cfg, out_dir, progress=progress)
    try:
        return trainer.train()
    finally:
        if trainer.dist.world > 1:
            dist.destroy_process_group()
