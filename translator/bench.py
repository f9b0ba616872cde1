"""`translator bench`: speed, memory and quality of every engine, side by side with CTranslate2 int8.

    translator bench [--model DIR] [--data data/multi30k] [--limit N] [--repeats 3] [--threads 2]
                     [--engines torch,ort-fp32,...] [--settings beam5-b32,...] [--out PREFIX]

Engines: torch (eager PyTorch), ort-fp32 / ort-int8 (our ONNX Runtime engine), ct2-fp32 /
ct2-int8 (CTranslate2, converted from the same bundle into a cache and reused). Each engine
lives in its own worker process (multiprocessing "spawn"): loaded once, fed commands over a
pipe, so its peak RSS is its own and the parent can alternate engines (round-robin, the
order rotated each repeat); speeds are medians over repeats, ratios are medians of the
per-repeat paired ratios against ct2-int8. The user's bundle is never modified: missing
ONNX graphs are exported into a copy in the work directory.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import multiprocessing as mp
import os
import platform
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from translator.config import ModelConfig
from translator.errors import TranslatorError

logger = logging.getLogger(__name__)

SPLIT = "test_2016_flickr"
BASELINE = "ct2-int8"
SETTLE_SECONDS = 0.3  # between runs: lets the previous engine's OpenMP/ORT threads stop spinning


@dataclasses.dataclass(frozen=True)
class EngineSpec:
    name: str
    kind: str  # torch | onnx | ct2
    variant: str | None  # ONNX variant or CTranslate2 quantization

    @property
    def int8(self) -> bool:
        return self.variant == "int8"


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    beam: int
    batch: int


ENGINES = {
    e.name: e
    for e in (
        EngineSpec("torch", "torch", None),
        EngineSpec("ort-fp32", "onnx", "fp32"),
        EngineSpec("ort-int8", "onnx", "int8"),
        EngineSpec("ct2-fp32", "ct2", None),
        EngineSpec("ct2-int8", "ct2", "int8"),
    )
}
SETTINGS = {
    s.name: s
    for s in (
        Setting("beam5-b32", 5, 32),
        Setting("beam5-b1", 5, 1),
        Setting("greedy-b32", 1, 32),
        Setting("greedy-b1", 1, 1),
    )
}
SCALING_ENGINES = ("torch", "ort-fp32", "ort-int8")


# --- inputs and models -------------------------------------------------------------
def load_test_set(data_dir: Path, limit: int | None) -> tuple[list[str], list[str]]:
    from training.data import read_parallel, split_paths

    en, fr = split_paths(data_dir, SPLIT)
    for path in (en, fr):
        if not path.is_file():
            raise TranslatorError(f"test set not found: {path} (run `make data` or pass --data DIR)")
    src, ref = read_parallel(en, fr)
    src, ref = (src[:limit], ref[:limit]) if limit else (src, ref)
    if not src:
        raise TranslatorError(f"{en} has no sentences")
    return src, ref


def _cache_name(bundle: Path, suffix: str) -> str:
    from translator.bundle import WEIGHTS, read_manifest

    digest = str(read_manifest(bundle).get("files", {}).get(WEIGHTS, ""))
    return f"{bundle.resolve().name}-{digest[:8]}-{suffix}"


def ct2_model(bundle: Path, work: Path, quantization: str | None) -> Path:
    """The bundle converted to CTranslate2 in `work`, reused while it was made from the same weights."""
    from translator.bundle import WEIGHTS, read_manifest
    from translator.ct2 import SOURCE_INFO, convert_bundle

    out = work / _cache_name(bundle, quantization or "fp32")
    info = out / SOURCE_INFO
    digest = read_manifest(bundle).get("files", {}).get(WEIGHTS)
    if info.is_file() and json.loads(info.read_text()).get("weights_sha256") == digest:
        logger.info("reusing %s", out)
        return out
    logger.info("converting %s to CTranslate2 (%s) in %s", bundle, quantization or "float32", out)
    return convert_bundle(bundle, out, quantization, force=True)


def onnx_bundle(bundle: Path, work: Path, variants: list[str]) -> Path:
    """A bundle with the ONNX `variants`: the bundle itself, or an exported copy in `work`."""
    from translator.bundle import read_manifest
    from translator.onnx_export import export_bundle, graphs_are_current
    from translator.ort_engine import exported_variants

    def has_variants(path: Path) -> bool:
        manifest = read_manifest(path)
        return graphs_are_current(manifest) and set(variants) <= set(exported_variants(manifest))

    if has_variants(bundle):
        return bundle
    copy = work / _cache_name(bundle, "onnx")
    if copy.is_dir() and has_variants(copy):
        logger.info("reusing %s", copy)
        return copy
    logger.info("exporting ONNX %s into a copy of the bundle: %s", ",".join(variants), copy)
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(bundle, copy)
    export_bundle(copy, variants)
    return copy


def model_dirs(bundle: Path, work: Path, engines: list[EngineSpec]) -> dict[str, Path]:
    variants = [e.variant for e in engines if e.kind == "onnx" and e.variant]
    onnx_dir = onnx_bundle(bundle, work, variants) if variants else bundle
    dirs = {}
    for e in engines:
        dirs[e.name] = ct2_model(bundle, work, e.variant) if e.kind == "ct2" else onnx_dir if e.variant else bundle
    return dirs


def long_inputs(texts: list[str], lengths: list[int], target: int, count: int) -> list[str]:
    """`count` inputs of about `target` tokens: runs of consecutive sentences (cycling), closest first."""
    candidates = []
    for start in range(len(texts)):
        i, n = start, lengths[start]
        while abs(n + lengths[(i + 1) % len(texts)] - target) < abs(n - target):
            i += 1
            n += lengths[i % len(texts)]
        candidates.append((abs(n - target), start, i))
    candidates.sort()
    return [" ".join(texts[j % len(texts)] for j in range(a, b + 1)) for _, a, b in candidates[:count]]


# --- the worker process --------------------------------------------------------------
Runner = Callable[[list[str], int, int], list[tuple[str, int]]]  # texts, beam, batch -> (text, target tokens)


def _peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the
    forked parent image across exec, so a spawned child would report at least the parent's RSS."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load_runner(kind: str, variant: str | None, model_dir: Path, threads: int) -> tuple[Runner, str]:
    """The engine's translate function, and what really runs (CTranslate2 compute type, ONNX variant)."""
    from translator.config import DecodeConfig

    if kind == "ct2":
        from translator.bundle import TOKENIZER
        from translator.ct2 import Ct2Engine
        from translator.tokenizer import Tokenizer

        engine = Ct2Engine(model_dir, intra_threads=threads)
        tok = Tokenizer(model_dir / TOKENIZER)

        def run_ct2(texts: list[str], beam: int, batch: int) -> list[tuple[str, int]]:
            ids = [tok.encode(t) if t.strip() else [] for t in texts]
            hyps = engine.translate_ids(ids, DecodeConfig(beam_size=beam, block_repeats=False), max_batch_size=batch)
            return [(tok.decode(h[0].tokens), len(h[0].tokens)) for h in hyps]

        return run_ct2, f"ctranslate2 {engine.translator.compute_type}"
    from translator.inference import Translator

    # the engines are compared on the model alone: no spans copied through (`translator.verbatim`), no clauses,
    # no repeats blocked (CTranslate2 has no such rule)
    translator = Translator(
        model_dir, engine=kind, device="cpu", variant=variant, threads=threads, verbatim=False, clauses=False
    )

    def run_ours(texts: list[str], beam: int, batch: int) -> list[tuple[str, int]]:
        # batches of exactly `batch` sentences (no token cap), as CTranslate2's max_batch_size
        results = translator.translate(
            texts, beam_size=beam, block_repeats=False, max_batch_size=batch, max_batch_tokens=1 << 30
        )
        return [(r.text, len(r.hypotheses[0].target_tokens)) for r in results]

    return run_ours, f"{kind} {getattr(translator.engine, 'variant', 'fp32')}"


def _timed(run: Runner, texts: list[str], beam: int, batch: int) -> dict[str, Any]:
    """One pass over `texts`; batch 1 also records each sentence's latency."""
    latencies: list[float] = []
    if batch == 1:
        outputs = []
        for text in texts:
            t0 = time.perf_counter()
            outputs += run([text], beam, 1)
            latencies.append(time.perf_counter() - t0)
        seconds = sum(latencies)
    else:
        t0 = time.perf_counter()
        outputs = run(texts, beam, batch)
        seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "latencies": latencies,
        "texts": [t for t, _ in outputs],
        "tokens": [n for _, n in outputs],
    }


def _serve(conn: Connection, kind: str, variant: str | None, model_dir: str, threads: int, warmup: list[str]) -> None:
    """Worker main loop: load the engine, then answer ("run", kwargs) until ("stop", None)."""
    try:
        import torch

        import translator.inference  # counted in the baseline RSS

        if kind == "onnx":
            import onnxruntime  # noqa: F401
        if kind == "ct2":
            import translator.ct2  # noqa: F401
        torch.set_num_threads(threads)
        import_rss = _peak_rss_mb()
        t0 = time.perf_counter()
        run, runs_as = _load_runner(kind, variant, Path(model_dir), threads)
        load_seconds = time.perf_counter() - t0
        for beam, batch in ((5, 8), (1, 8), (5, 1)):  # first calls allocate arenas, caches, ...
            _timed(run, warmup, beam, batch)
        info = {"runs_as": runs_as, "import_rss_mb": import_rss, "load_seconds": load_seconds}
        conn.send(("ok", {**info, "peak_rss_mb": _peak_rss_mb()}))
        while True:
            command, kwargs = conn.recv()
            if command == "stop":
                return
            conn.send(("ok", {**_timed(run, **kwargs), "peak_rss_mb": _peak_rss_mb()}))
    except Exception as exc:  # reported to the parent, which raises a TranslatorError
        conn.send(("error", str(exc) if isinstance(exc, TranslatorError) else f"{type(exc).__name__}: {exc}"))


class Worker:
    """One engine in its own process, loaded once and fed commands over a pipe."""

    def __init__(self, spec: EngineSpec, model_dir: Path, threads: int, warmup: list[str]) -> None:
        ctx = mp.get_context("spawn")
        self.name = spec.name
        self.conn, child = ctx.Pipe()
        args = (child, spec.kind, spec.variant, str(model_dir), threads, warmup)
        self.process = ctx.Process(target=_serve, args=args, name=f"bench-{spec.name}", daemon=True)
        self.process.start()
        child.close()
        self.peak_rss_mb = 0.0
        self.info: dict[str, Any] = {}

    def _reply(self) -> dict[str, Any]:
        try:
            status, payload = self.conn.recv()
        except EOFError:
            self.process.join(5)
            raise TranslatorError(f"the {self.name} worker died (exit code {self.process.exitcode})") from None
        if status == "error":
            raise TranslatorError(f"{self.name}: {payload}")
        self.peak_rss_mb = max(self.peak_rss_mb, payload.pop("peak_rss_mb"))
        return dict(payload)

    def ready(self) -> None:
        self.info = self._reply()

    def translate(self, texts: list[str], beam: int, batch: int) -> dict[str, Any]:
        self.conn.send(("run", {"texts": texts, "beam": beam, "batch": batch}))
        return self._reply()

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.conn.send(("stop", None))
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


# --- measuring ---------------------------------------------------------------------
def round_robin(
    workers: dict[str, Worker], jobs: list[tuple[str, list[str], int, int]], repeats: int
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Runs of every (job name, texts, beam, batch) on every worker; engines alternate, order rotated per repeat."""
    names = list(workers)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {n: {job[0]: [] for job in jobs} for n in names}
    total, done = repeats * len(jobs) * len(names), 0
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for job, texts, beam, batch in jobs:
            for name in order:
                time.sleep(SETTLE_SECONDS)
                out = workers[name].translate(texts, beam, batch)
                runs[name][job].append(out)
                done += 1
                logger.info("[%d/%d] repeat %d %s %s: %.2f s", done, total, r + 1, job, name, out["seconds"])
    return runs


def gemm_gflops(rows: int, inner: int, cols: int, threads: int, seconds: float = 0.5) -> float:
    """Achieved fp32 GFLOP/s of torch matmul (rows x inner) @ (inner x cols) on `threads` threads."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(rows, inner), torch.randn(inner, cols)
    a @ b
    reps, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        a @ b
        reps += 1
    return 2 * rows * inner * cols * reps / elapsed / 1e9


def int8_gops(n: int, threads: int, seconds: float = 0.5) -> float:
    """Achieved int8 GOP/s of ONNX Runtime MatMulInteger (uint8 x int8 weights, as in the int8 graphs)."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.integers(-128, 128, (n, n), dtype=np.int8), "b")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["c"])],
        "gemm_int8",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.INT32, [n, n])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feeds = {"a": rng.integers(0, 256, (n, n), dtype=np.uint8)}
    session.run(None, feeds)
    reps, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        session.run(None, feeds)
        reps += 1
    return 2 * n**3 * reps / elapsed / 1e9


# --- analysis ------------------------------------------------------------------------
def sentence_flops(cfg: ModelConfig, src: int, tgt: int, beam: int) -> tuple[float, float]:
    """(total, attention) FLOPs (2 per multiply-add) to translate one sentence.

    `src`/`tgt` exclude EOS: the encoder sees src+1 tokens; the decoder runs tgt+1 steps
    (the last emits EOS) for `beam` hypotheses. Per decoder layer and step: self-attention
    Q,K,V,O (8d²) + cross Q,O (4d²) + FFN (4d·ff) + scores and weighted sums over t self and
    S cross keys (4d·(t+S)); per step the output projection (2dV). Cross K/V (4d² per source
    token and layer) and the encoder are paid once per sentence. Beams that finish early are
    not subtracted, nor is padding added: an estimate of the useful work.
    """
    d, ff, s, steps = cfg.d_model, cfg.d_ff, src + 1, tgt + 1
    enc = cfg.encoder_layers * s * (8 * d * d + 4 * d * ff) + cfg.decoder_layers * s * 4 * d * d
    enc_attention = cfg.encoder_layers * 4 * s * s * d
    dec = beam * steps * (cfg.decoder_layers * (12 * d * d + 4 * d * ff) + 2 * d * cfg.vocab_size)
    dec_attention = beam * cfg.decoder_layers * 4 * d * (steps * (steps + 1) / 2 + steps * s)
    return enc + enc_attention + dec + dec_attention, enc_attention + dec_attention


def attention_crossover(cfg: ModelConfig) -> int:
    """Source length (greedy, target as long as the source) from which attention is half the FLOPs."""
    lo, hi = 1, 1 << 20
    while lo < hi:
        mid = (lo + hi) // 2
        total, attention = sentence_flops(cfg, mid, mid, 1)
        lo, hi = (lo, mid) if attention >= total / 2 else (mid + 1, hi)
    return lo


def _percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def summarise(
    runs: list[dict[str, Any]], refs: list[str], src_lens: list[int], cfg: ModelConfig, setting: Setting, peak: float
) -> dict[str, Any]:
    """Medians over repeats for one engine and setting; `peak` is the GFLOP/s of its precision."""
    import sacrebleu

    seconds = statistics.median(r["seconds"] for r in runs)
    last = runs[-1]
    tokens = sum(last["tokens"])
    flops = sum(sentence_flops(cfg, s, t, setting.beam)[0] for s, t in zip(src_lens, last["tokens"], strict=True))
    out: dict[str, Any] = {
        "sentences_per_s": len(refs) / seconds,
        "tokens_per_s": tokens / seconds,
        "target_tokens": tokens,
        "seconds": [r["seconds"] for r in runs],
        "bleu": sacrebleu.corpus_bleu(last["texts"], [refs]).score,
        "analytic_gflop": flops / 1e9,
        "achieved_gflops": flops / seconds / 1e9,
        "bound_tokens_per_s": tokens * peak * 1e9 / flops if flops else None,
        "pct_of_flop_bound": 100 * flops / seconds / 1e9 / peak,
    }
    if last["latencies"]:
        out["p50_ms"] = 1000 * statistics.median(_percentile(r["latencies"], 50) for r in runs)
        out["p95_ms"] = 1000 * statistics.median(_percentile(r["latencies"], 95) for r in runs)
    return out


def speed_ratios(runs: dict[str, dict[str, list[dict[str, Any]]]], setting: str) -> dict[str, float]:
    """Per engine: median over repeats of (baseline seconds / engine seconds) in the same repeat."""
    base = [r["seconds"] for r in runs[BASELINE][setting]]
    return {
        name: statistics.median(b / r["seconds"] for b, r in zip(base, by_setting[setting], strict=True))
        for name, by_setting in runs.items()
    }


def parity(runs: dict[str, dict[str, list[dict[str, Any]]]], results: dict[str, Any], setting: str) -> dict[str, float]:
    """Share of identical outputs vs torch, and the BLEU cost of int8 in ONNX Runtime."""
    out: dict[str, float] = {}
    for other in ("ort-fp32", "ct2-fp32"):
        if "torch" in runs and other in runs:
            a, b = runs["torch"][setting][-1]["texts"], runs[other][setting][-1]["texts"]
            out[f"{other}_equals_torch"] = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
    if "ort-int8" in results and "ort-fp32" in results:
        out["bleu_ort_int8_minus_fp32"] = results["ort-int8"][setting]["bleu"] - results["ort-fp32"][setting]["bleu"]
    return out


def scaling_rows(
    runs: dict[str, list[dict[str, Any]]], src_lens: dict[str, list[int]], cfg: ModelConfig
) -> list[dict[str, Any]]:
    """Per input length: time per sentence and per target token, growth, analytic attention share."""
    rows: list[dict[str, Any]] = []
    for job, reps in runs.items():
        tokens, lens = reps[-1]["tokens"], src_lens[job]
        per_sentence = statistics.median(statistics.mean(r["latencies"]) for r in reps)
        flops = [sentence_flops(cfg, s, t, 1) for s, t in zip(lens, tokens, strict=True)]
        rows.append(
            {
                "length": job,
                "source_tokens": statistics.mean(lens),
                "target_tokens": statistics.mean(tokens),
                "ms_per_sentence": 1000 * per_sentence,
                "ms_per_target_token": 1000 * per_sentence / max(statistics.mean(tokens), 1),
                "attention_flop_share": sum(a for _, a in flops) / sum(f for f, _ in flops),
            }
        )
    for row in rows:
        row["growth_vs_shortest"] = row["ms_per_sentence"] / rows[0]["ms_per_sentence"]
    return rows


# --- report --------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    fields = [line.split(":", 1) for line in cpuinfo.splitlines() if ":" in line]
    model = next((v.strip() for k, v in fields if k.strip() == "model name"), platform.processor())
    flags = next((v.split() for k, v in fields if k.strip() == "flags"), [])
    versions = {"python": platform.python_version()}
    for module in ("torch", "onnxruntime", "ctranslate2", "sacrebleu"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = "not installed"
    return {
        "cpu": model,
        "logical_cores": os.cpu_count(),
        "simd": [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8") if f in flags],
        "load_average_at_start": os.getloadavg()[0],
        "versions": versions,
    }


def machine_line(machine: dict[str, Any]) -> str:
    """`machine_info()` as reports name the machine: "AMD EPYC, 2 logical cores (avx2)"."""
    return f"{machine['cpu']}, {machine['logical_cores']} logical cores ({', '.join(machine['simd'])})"


Column = tuple[str, str, int]  # header, key of the row dict, decimals (-1: a string)


def _table(columns: list[Column], rows: list[dict[str, Any]]) -> str:
    def cell(value: Any, digits: int) -> str:
        if value is None:
            return "–"
        return str(value) if digits < 0 else f"{value:,.{digits}f}"

    lines = ["| " + " | ".join(h for h, _, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(k), d) for _, k, d in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


SPEED_COLUMNS: list[Column] = [
    ("engine", "engine", -1), ("setting", "setting", -1), ("sent/s", "sentences_per_s", 1),
    ("tok/s", "tokens_per_s", 0), (f"×{BASELINE}", "ratio", 2), ("p50 ms", "p50_ms", 1), ("p95 ms", "p95_ms", 1),
    ("BLEU", "bleu", 2), ("% of FLOP bound", "pct_of_flop_bound", 2),
]  # fmt: skip
MEMORY_COLUMNS: list[Column] = [
    ("engine", "engine", -1), ("runs as", "runs_as", -1), ("peak RSS MB", "peak_rss_mb", 0),
    ("RSS after imports MB", "import_rss_mb", 0), ("load s", "load_seconds", 2),
]  # fmt: skip
PARITY_COLUMNS: list[Column] = [
    ("setting", "setting", -1), ("ort-fp32 = torch", "ort-fp32_equals_torch", 3),
    ("ct2-fp32 = torch", "ct2-fp32_equals_torch", 3), ("BLEU ort-int8 − ort-fp32", "bleu_ort_int8_minus_fp32", 2),
]  # fmt: skip
LIMIT_COLUMNS: list[Column] = [
    ("setting", "setting", -1), ("MFLOP / target token", "mflop_per_target_token", 1),
    ("fp32 GFLOP/s, GEMM (beam·batch)×d→V", "gemm_gflops_output_projection", 1),
    ("bound tok/s fp32", "bound_fp32", 0), ("bound tok/s int8", "bound_int8", 0),
]  # fmt: skip
SCALING_COLUMNS: list[Column] = [
    ("engine", "engine", -1), ("input", "length", -1), ("src tok", "source_tokens", 1), ("tgt tok", "target_tokens", 1),
    ("ms/sentence", "ms_per_sentence", 1), ("ms/target token", "ms_per_target_token", 2),
    ("× shortest", "growth_vs_shortest", 2), ("attention % of FLOPs", "attention_pct", 1),
]  # fmt: skip


def markdown(report: dict[str, Any]) -> str:
    m, c, lim = report["machine"], report["config"], report["limit"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    speed = [{"engine": e, "setting": s, "ratio": report["ratios"][s][e], **by_setting[s]}
             for s in c["settings"] for e, by_setting in report["results"].items()]  # fmt: skip
    memory = [{"engine": e, **v} for e, v in report["memory"].items()]
    parity = [{"setting": s, **p} for s, p in report["parity"].items()]
    limits = [{"setting": s, **v, **{f"bound_{p}": b for p, b in v["bound_tokens_per_s"].items()}}
              for s, v in lim["settings"].items()]  # fmt: skip
    scaling = [{"engine": e, **r, "attention_pct": 100 * r["attention_flop_share"]}
               for e, rows in report["scaling"].items() for r in rows]  # fmt: skip
    peak = lim["peak_gflops"]
    parts = [
        f"# translator bench\n\n`{report['command']}`\n\n{machine_line(m)}, "
        f"load average {m['load_average_at_start']:.2f} at start; {versions}.\n\n"
        f"{c['sentences']} sentences of {SPLIT}, {c['threads']} threads per engine, medians of {c['repeats']} "
        f"repeat(s); ×{BASELINE}: speed relative to {BASELINE} in the same repeat (>1 is faster).\n",
        _table(SPEED_COLUMNS, speed),
        "## Memory\n\nPeak RSS (VmHWM) of each engine's own worker process, Python and its imports "
        "(torch, the runtime) included; 'after imports' is before the model is loaded.\n",
        _table(MEMORY_COLUMNS, memory),
    ]
    if any(report["parity"].values()):
        parts += ["## Parity (share of identical outputs; BLEU difference)\n", _table(PARITY_COLUMNS, parity)]
    parts += [
        f"## FLOP-bound limit\n\nMatmul peak on {c['threads']} threads: fp32 {peak['fp32']:.0f} GFLOP/s "
        f"(torch, 1024³), int8 {peak['int8']:.0f} GOP/s (ONNX Runtime MatMulInteger, 1024³). Bound = peak / "
        "analytic FLOPs per target token of the setting (on the baseline's outputs); int8 engines are held to "
        "the int8 peak, the others to the fp32 peak.\n",
        _table(LIMIT_COLUMNS, limits),
    ]
    if scaling:
        parts += [
            "## Scaling with input length (greedy, batch 1)\n\nAnalytically, attention is half of the FLOPs "
            f"from ~{lim['attention_crossover_tokens']} source tokens (target as long as the source).\n",
            _table(SCALING_COLUMNS, scaling),
        ]
    return "\n".join(parts)


# --- the command -----------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model bundle directory (default: the shipped model)")
    p.add_argument("--data", default="data/multi30k", help=f"directory with {SPLIT}.en.gz/.fr.gz")
    p.add_argument("--limit", type=int, help="only the first N test sentences")
    p.add_argument("--repeats", type=int, default=3, help="round-robin repeats; medians are reported (default 3)")
    p.add_argument("--threads", type=int, default=2, help="threads for every engine (default 2)")
    p.add_argument(
        "--engines", default=",".join(ENGINES), help=f"subset of {','.join(ENGINES)} ({BASELINE} always runs)"
    )
    p.add_argument("--settings", default=",".join(SETTINGS), help=f"subset of {','.join(SETTINGS)}")
    p.add_argument(
        "--scale-lengths", type=_lengths, default="10,50,200", help="source lengths to scale over ('' skips)"
    )
    p.add_argument("--scale-inputs", type=int, default=10, help="inputs per scaling length (default 10)")
    p.add_argument("--work", help="cache for CTranslate2 models and ONNX exports (default <bundle>/../.ct2-cache)")
    p.add_argument("--out", help="also write PREFIX.json and PREFIX.md")


def _lengths(text: str) -> list[int]:
    try:
        values = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated token counts, got {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"token counts must be >= 1, got {text!r}")
    return values


def _choose(names: str, known: dict[str, Any], what: str) -> list[str]:
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in known]
    if unknown or not chosen:
        raise TranslatorError(f"unknown {what} {', '.join(unknown) or '(none)'}; choose from {', '.join(known)}")
    return [n for n in known if n in chosen]


def _command_line(args: argparse.Namespace) -> str:
    """The equivalent full command: every option spelled out."""
    argv = ["translator", "bench"]
    for key, value in vars(args).items():
        if key not in {"func", "command", "verbose"} and value is not None:
            argv += [f"--{key.replace('_', '-')}", ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return shlex.join(argv)


def measure(
    engines: list[str],
    dirs: dict[str, Path],
    settings: list[Setting],
    sources: list[str],
    scale_inputs: dict[str, list[str]],
    args: argparse.Namespace,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Start one worker per engine, run every setting and the scaling inputs; (runs, scaling runs, memory)."""
    workers = {n: Worker(ENGINES[n], dirs[n], args.threads, sources[:8]) for n in engines}
    try:
        for w in workers.values():
            w.ready()
        logger.info("engines loaded: %s", ", ".join(workers))
        runs = round_robin(workers, [(s.name, sources, s.beam, s.batch) for s in settings], args.repeats)
        scalers = {n: w for n, w in workers.items() if n in SCALING_ENGINES}
        jobs = [(job, texts, 1, 1) for job, texts in scale_inputs.items()]
        scaling = round_robin(scalers, jobs, args.repeats) if scalers and jobs else {}
    finally:
        for w in workers.values():
            w.close()
    return runs, scaling, {n: {"peak_rss_mb": w.peak_rss_mb, **w.info} for n, w in workers.items()}


def flop_limit(
    results: dict[str, Any], settings: list[Setting], cfg: ModelConfig, peak: dict[str, float], threads: int
) -> dict[str, Any]:
    """FLOPs per target token, the matching tokens/s bounds, and GEMM speed at the decoder's output shape."""
    out: dict[str, Any] = {"peak_gflops": peak, "attention_crossover_tokens": attention_crossover(cfg)}
    out["settings"] = {}
    for s in settings:
        base = results[BASELINE][s.name]
        per_token = base["analytic_gflop"] * 1e9 / max(base["target_tokens"], 1)
        out["settings"][s.name] = {
            "mflop_per_target_token": per_token / 1e6,
            "gemm_gflops_output_projection": gemm_gflops(s.beam * s.batch, cfg.d_model, cfg.vocab_size, threads),
            "bound_tokens_per_s": {p: g * 1e9 / per_token for p, g in peak.items()},
        }
    return out


def _shown(path: Path) -> str:
    """A path for the report: relative to the working directory when inside it (no machine paths)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run(args: argparse.Namespace) -> int:
    """The `translator bench` command."""
    from translator.bundle import CONFIG, TOKENIZER, default_model_dir, read_manifest
    from translator.tokenizer import Tokenizer

    if args.repeats < 1 or args.threads < 1 or (args.limit is not None and args.limit < 1):
        raise TranslatorError("--repeats, --threads and --limit must be >= 1")
    engines = _choose(args.engines, ENGINES, "engine")
    if BASELINE not in engines:
        logger.info("adding %s: every ratio is against it", BASELINE)
        engines = [n for n in ENGINES if n in {*engines, BASELINE}]
    settings = [SETTINGS[s] for s in _choose(args.settings, SETTINGS, "setting")]
    bundle = Path(args.model) if args.model else default_model_dir()
    read_manifest(bundle)  # a clear error for a missing or broken bundle
    sources, refs = load_test_set(Path(args.data), args.limit)
    machine = machine_info()
    cfg, tok = ModelConfig.load(bundle / CONFIG), Tokenizer(bundle / TOKENIZER)
    src_lens = [len(tok.encode(s)) for s in sources]
    work = Path(args.work) if args.work else bundle.resolve().parent / ".ct2-cache"
    dirs = model_dirs(bundle, work, [ENGINES[n] for n in engines])
    lengths = args.scale_lengths if args.scale_inputs > 0 else []
    scale_inputs = {f"~{n} tok": long_inputs(sources, src_lens, n, args.scale_inputs) for n in lengths}

    runs, scaling, memory = measure(engines, dirs, settings, sources, scale_inputs, args)

    peak = {"fp32": gemm_gflops(1024, 1024, 1024, args.threads), "int8": int8_gops(1024, args.threads)}
    results = {
        n: {s.name: summarise(runs[n][s.name], refs, src_lens, cfg, s, peak["int8" if ENGINES[n].int8 else "fp32"])
            for s in settings}
        for n in engines
    }  # fmt: skip
    scale_lens = {job: [len(tok.encode(t)) for t in texts] for job, texts in scale_inputs.items()}
    report = {
        "command": _command_line(args),
        "argv": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "machine": machine,
        "config": {"model": _shown(bundle), "data": str(args.data), "sentences": len(sources), "repeats": args.repeats,
                   "threads": args.threads, "engines": engines, "settings": [s.name for s in settings],
                   "setting_params": {s.name: dataclasses.asdict(s) for s in settings}, "baseline": BASELINE,
                   "model_dirs": {n: _shown(d) for n, d in dirs.items()}, "model_config": dataclasses.asdict(cfg)},
        "results": results,
        "ratios": {s.name: speed_ratios(runs, s.name) for s in settings},
        "memory": memory,
        "parity": {s.name: parity(runs, results, s.name) for s in settings},
        "limit": flop_limit(results, settings, cfg, peak, args.threads),
        "scaling": {n: scaling_rows(by_job, scale_lens, cfg) for n, by_job in scaling.items()},
    }  # fmt: skip
    text = markdown(report)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(f"{args.out}.json").write_text(json.dumps(report, indent=2) + "\n")
        Path(f"{args.out}.md").write_text(text)
        logger.info("wrote %s.json and %s.md", args.out, args.out)
    return 0
