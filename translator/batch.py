"""Batch translation jobs: `translator translate -i IN -o OUT` over files of any size.

The input is cut into windows of `window` lines. A window is the unit of work:
its sentences are sorted by length into dense batches (the same batching as
`Translator.translate`), translated, put back in input order and committed
as one chunk. Memory is bounded by the windows in flight, whatever the file size.

Resume. With `-o OUT` the job keeps a journal in the directory `OUT.job/`:

    job.json             what the job is: fingerprints of the input (size + SHA-256),
                         the model (manifest SHA-256, or the server's ModelInfo) and
                         every option that changes the output; written once, atomically
    chunk-00000012.out   the output lines of window 12 (written to a temporary name,
                         fsynced, renamed)
    chunk-00000012.done  the commit record of window 12 (line count, byte count,
                         counters), written atomically after its chunk file is durable

A window is committed exactly when its `.done` record exists, so a job killed at
any moment (even SIGKILL) and rerun with the same command redoes only the
uncommitted windows: nothing is lost or written twice. A rerun with a changed
input, model or option is refused (`--restart` discards the journal). At the
end the chunks are concatenated into `OUT.job/output.partial`, fsynced and
renamed to OUT (atomic), and the journal is removed.

Execution: in-process (`workers=1`), a pool of spawned processes, each with
its own `Translator` (`workers>1`; a window always runs whole in one process,
so the output is byte-identical for any number of workers), a translation
server through the `TranslateStream` rpc (`server`), or Ray actors
(`backend="ray"`).

Bad lines: a blank line gives an empty output line; a line longer than the
model's `max_input_tokens` follows `overlong` (see `split_overlong`); invalid
UTF-8 is an error naming the line unless `errors="replace"`.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import importlib
import logging
import math
import os
import queue
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from translator.batch_io import (
    InputError,
    RecordFormat,
    check_records,
    format_window,
    iter_windows,
    parse_window,
    scan_input,
)
from translator.batch_journal import COUNTERS, Journal, StdoutSink
from translator.config import TRANSLATION_RULES
from translator.errors import TranslatorError
from translator.sentences import split_sentences

if TYPE_CHECKING:
    from tqdm import tqdm

    from translator.inference import Translator
    from translator.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = 10000
OVERLONG = ("split", "refuse", "skip")
BACKENDS = ("local", "ray")
MAX_BATCH_TOKENS = 4096  # as in Translator.translate
REMOTE_RETRY_SECONDS = 120.0  # how long a window is retried while the server is UNAVAILABLE


# -- the job ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    beam_size: int = 5
    length_penalty: float = 1.0
    max_length_ratio: float = 2.0
    max_batch_size: int = 64


@dataclasses.dataclass(frozen=True)
class EngineSpec:
    """How each worker builds its own `Translator`."""

    model: str | None = None
    engine: str = "auto"
    device: str = "auto"
    variant: str | None = None
    threads: int = 0
    max_input_tokens: int = 256
    verbatim: bool = True
    clauses: bool = True

    def build(self) -> Translator:
        from translator.inference import Translator

        return Translator(
            self.model,
            max_input_tokens=self.max_input_tokens,
            threads=self.threads or None,
            engine=self.engine,
            device=self.device,
            variant=self.variant,
            verbatim=self.verbatim,
            clauses=self.clauses,
        )


@dataclasses.dataclass(frozen=True)
class JobSpec:
    input: Path
    output: Path | None  # None: stream to stdout, not resumable
    fmt: RecordFormat = dataclasses.field(default_factory=RecordFormat)
    errors: str = "strict"  # strict | replace (invalid UTF-8)
    window: int = DEFAULT_WINDOW
    overlong: str = "split"  # split | refuse | skip
    decode: DecodeOptions = dataclasses.field(default_factory=DecodeOptions)
    engine: EngineSpec = dataclasses.field(default_factory=EngineSpec)
    workers: int = 1
    backend: str = "local"  # local | ray
    server: str | None = None  # HOST:PORT: translate through a server
    api_key: str | None = None
    tls: bool = False  # remote: TLS with the system's root CAs
    tls_ca: str | None = None  # remote: PEM root certificates (implies TLS)
    max_in_flight: int = 32  # remote: stream items sent and not yet answered, per worker
    restart: bool = False
    quiet: bool = False

    def validate(self) -> JobSpec:
        if self.window < 1 or self.workers < 1 or self.max_in_flight < 1:
            raise TranslatorError("--window, --workers and --max-in-flight must be >= 1")
        if self.overlong not in OVERLONG:
            raise TranslatorError(f"overlong must be one of {', '.join(OVERLONG)}, got {self.overlong!r}")
        if self.backend not in BACKENDS:
            raise TranslatorError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.backend == "ray" and self.server:
            raise TranslatorError("--backend ray and --server are exclusive")
        if self.output is not None and self.output.resolve() == self.input.resolve():
            raise TranslatorError(f"the output {self.output} is the input file")
        if self.output is not None and self.output.is_dir():
            raise TranslatorError(f"the output {self.output} is a directory")
        if self.output is not None:
            parent = self.output.parent
            if not parent.is_dir():
                raise TranslatorError(f"cannot write {self.output}: the directory {parent} does not exist")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise TranslatorError(f"cannot write {self.output}: the directory {parent} is not writable")
        return self

    def options_fingerprint(self) -> dict[str, Any]:
        """Every option that changes the output bytes (not workers, threads or the backend)."""
        return {
            **dataclasses.asdict(self.decode),
            "max_input_tokens": self.engine.max_input_tokens,
            "verbatim": self.engine.verbatim,
            "clauses": self.engine.clauses,
            "window": self.window,
            "overlong": self.overlong,
            "errors": self.errors,
            # unset fields are left out, so that a journal begun before a field existed still matches
            **{f"format.{k}": v for k, v in dataclasses.asdict(self.fmt).items() if v is not None},
        }


@dataclasses.dataclass
class Summary:
    counts: dict[str, int]  # lines, empty, split, skipped, replaced (over the whole job)
    resumed_lines: int  # committed by earlier runs
    seconds: float  # this run
    output: str

    @property
    def lines_per_second(self) -> float:
        done = self.counts["lines"] - self.resumed_lines
        return done / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        c = self.counts
        resumed = f", {self.resumed_lines} resumed from an earlier run" if self.resumed_lines else ""
        return (
            f"done: {c['lines']} lines in {self.seconds:.1f} s ({self.lines_per_second:.1f} lines/s{resumed}); "
            f"{c['empty']} empty, {c['split']} overlong split, {c['skipped']} overlong skipped, "
            f"{c['replaced']} with invalid UTF-8 replaced -> {self.output}"
        )


# -- overlong lines -----------------------------------------------------------------------
def _char_chunks(word: str, count: Callable[[str], int], limit: int) -> list[str]:
    out, i = [], 0
    while i < len(word):
        n = min(max(limit // 2, 1), len(word) - i)
        while n > 1 and count(word[i : i + n]) > limit:
            n //= 2
        out.append(word[i : i + n])
        i += n
    return out


def _fit(text: str, count: Callable[[str], int], limit: int) -> list[str]:
    if count(text) <= limit:
        return [text]
    words = text.split()
    if len(words) == 1:
        return _char_chunks(text, count, limit)
    mid = len(words) // 2
    return _fit(" ".join(words[:mid]), count, limit) + _fit(" ".join(words[mid:]), count, limit)


def split_overlong(text: str, count: Callable[[str], int], limit: int) -> list[str]:
    """Pieces of `text` of at most `limit` tokens: its sentences, and a sentence still too long in word chunks.

    Word chunks are filled greedily (a whitespace-splitting tokenizer counts a
    join as the sum of its words; each chunk is checked anyway); a single word
    over the limit is cut into character slices.
    """
    pieces: list[str] = []
    for sentence in split_sentences(text):
        if count(sentence) <= limit:
            pieces.append(sentence)
            continue
        chunk: list[str] = []
        used = 0
        for word in sentence.split():
            n = count(word)
            if chunk and used + n > limit:
                pieces.extend(_fit(" ".join(chunk), count, limit))
                chunk, used = [], 0
            chunk.append(word)
            used += n
        if chunk:
            pieces.extend(_fit(" ".join(chunk), count, limit))
    return pieces


# -- one window ------------------------------------------------------------------------
@dataclasses.dataclass
class WindowTask:
    index: int
    first_lineno: int
    texts: list[str]
    label: str  # the input file, for messages
    overlong: str


@dataclasses.dataclass
class WindowResult:
    index: int
    translations: list[str]
    scores: list[float | None]  # None: a skipped line
    counts: dict[str, int]  # empty, split, skipped


class SegmentError(Exception):
    """Segment `index` of a window could not be translated."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(index, message)
        self.index, self.message = index, message


class Engine(Protocol):
    limit: int

    def count(self, text: str) -> int: ...

    def translate(
        self, segments: list[str], lengths: list[int], done: Callable[[list[int]], None]
    ) -> list[tuple[str, float]]:
        """(translation, score) of `segments` (non-blank, at most `limit` tokens), in order; `done(indices)` as
        they finish."""
        ...


def translate_window(task: WindowTask, engine: Engine, progress: Callable[[int], object]) -> WindowResult:
    """Plan the window's segments (blank and overlong lines), translate them, join them back per line.

    A line split into pieces (`--overlong split`) gets the pieces' translations joined with
    spaces and the mean of their scores."""
    counts = {"empty": 0, "split": 0, "skipped": 0}
    segments: list[str] = []
    lengths: list[int] = []
    owners: list[int] = []
    for i, text in enumerate(task.texts):
        if not text.strip():
            counts["empty"] += 1
            continue
        n = engine.count(text)
        if n <= engine.limit:
            segments.append(text)
            lengths.append(n)
            owners.append(i)
            continue
        lineno = task.first_lineno + i
        if task.overlong == "refuse":
            raise InputError(
                f"{task.label}: line {lineno} is {n} tokens long; the limit is max_input_tokens={engine.limit} "
                "(--overlong split or skip to go on)"
            )
        if task.overlong == "skip":
            counts["skipped"] += 1
            continue
        counts["split"] += 1
        for piece in split_overlong(text, engine.count, engine.limit):
            m = engine.count(piece)
            if m > engine.limit:
                raise InputError(f"{task.label}: line {lineno} cannot be split under max_input_tokens")
            segments.append(piece)
            lengths.append(m)
            owners.append(i)

    remaining: dict[int, int] = {}
    for owner in owners:
        remaining[owner] = remaining.get(owner, 0) + 1
    progress(len(task.texts) - len(remaining))  # lines without engine work
    finished = [False] * len(segments)

    def done(indices: list[int]) -> None:
        lines = 0
        for s in indices:
            if not finished[s]:  # idempotent: a retried window reports again
                finished[s] = True
                remaining[owners[s]] -= 1
                lines += remaining[owners[s]] == 0
        if lines:
            progress(lines)

    try:
        outputs = engine.translate(segments, lengths, done)
    except SegmentError as exc:
        lineno = task.first_lineno + owners[exc.index]
        raise TranslatorError(f"{task.label}: line {lineno}: {exc.message}") from None
    parts: dict[int, list[tuple[str, float]]] = {}
    for owner, out in zip(owners, outputs, strict=True):
        parts.setdefault(owner, []).append(out)
    translations = [" ".join(t for t, _ in parts.get(i, [])) for i in range(len(task.texts))]
    # a blank text scores 0.0, as `Translator.translate` gives it; a skipped line has no score
    scores = [
        statistics.fmean(s for _, s in parts[i]) if i in parts else None if text.strip() else 0.0
        for i, text in enumerate(task.texts)
    ]
    return WindowResult(task.index, translations, scores, counts)


def _count_tokens(tokenizer: Tokenizer, text: str) -> int:
    return len(tokenizer.encode(text)) if text.strip() else 0


class LocalEngine:
    """A `Translator` in this process; batches exactly as `Translator.translate` does over the window."""

    def __init__(self, translator: Translator, decode: DecodeOptions) -> None:
        self.translator = translator
        self.decode = decode
        self.limit = translator.max_input_tokens

    def count(self, text: str) -> int:
        return _count_tokens(self.translator.tokenizer, text)

    def translate(
        self, segments: list[str], lengths: list[int], done: Callable[[list[int]], None]
    ) -> list[tuple[str, float]]:
        from translator.inference import length_batches

        d = self.decode
        out = [("", 0.0)] * len(segments)
        max_tokens = max(MAX_BATCH_TOKENS // d.beam_size, 1)
        for batch in length_batches([n + 1 for n in lengths], d.max_batch_size, max_tokens):
            results = self.translator.translate(
                [segments[i] for i in batch],
                beam_size=d.beam_size,
                length_penalty=d.length_penalty,
                max_length_ratio=d.max_length_ratio,
                max_batch_size=d.max_batch_size,
                max_batch_tokens=MAX_BATCH_TOKENS,
            )
            for i, r in zip(batch, results, strict=True):
                out[i] = (r.text, r.score)
            done(batch)
        return out


class _Unavailable(Exception):
    """A stream item failed with UNAVAILABLE: the window is sent again."""


def _retryable(exc: BaseException) -> bool:
    import grpc

    if isinstance(exc, _Unavailable):
        return True
    return isinstance(exc, grpc.RpcError) and exc.code() == grpc.StatusCode.UNAVAILABLE


class RemoteEngine:
    """A translation server: one `TranslateStream` call per window, at most `max_in_flight` items unanswered.

    A call that fails with UNAVAILABLE (server starting, draining, unreachable)
    is retried with exponential backoff (tenacity) for `REMOTE_RETRY_SECONDS`; a
    window is committed only when all its items are answered, so a retry
    duplicates nothing. Token counts (for `--overlong`) use the local bundle's tokenizer.
    """

    def __init__(
        self, client: Any, tokenizer: Tokenizer, limit: int, decode: DecodeOptions, max_in_flight: int
    ) -> None:
        from translator._proto import translator_pb2 as pb

        self.client, self.tokenizer, self.limit = client, tokenizer, limit
        self.max_in_flight = max_in_flight
        self.cancelled = threading.Event()  # the job is aborting: stop sending
        self.options = pb.TranslateOptions(
            beam_size=decode.beam_size,
            length_penalty=decode.length_penalty,
            max_length_ratio=decode.max_length_ratio,
            return_scores=True,
        )

    def count(self, text: str) -> int:
        return _count_tokens(self.tokenizer, text)

    def translate(
        self, segments: list[str], lengths: list[int], done: Callable[[list[int]], None]
    ) -> list[tuple[str, float]]:
        import tenacity

        order = sorted(range(len(segments)), key=lambda i: -lengths[i])  # similar lengths in flight together
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_retryable),
            stop=tenacity.stop_after_delay(REMOTE_RETRY_SECONDS),
            wait=tenacity.wait_exponential(multiplier=0.2, max=5.0),
            before_sleep=lambda state: logger.warning(
                "server %s unavailable (%s); retrying the window",
                self.client.target,
                state.outcome.exception() if state.outcome else None,
            ),
            reraise=True,
        )
        result: list[tuple[str, float]] = retrying(self._stream, segments, order, done)
        return result

    def _stream(
        self, segments: list[str], order: list[int], done: Callable[[list[int]], None]
    ) -> list[tuple[str, float]]:
        from translator._proto import translator_pb2 as pb

        slots = threading.Semaphore(self.max_in_flight)
        stop = threading.Event()

        def requests() -> Iterator[pb.TranslateStreamRequest]:
            for i in order:
                while not slots.acquire(timeout=0.5):
                    if stop.is_set():
                        return
                if self.cancelled.is_set():
                    return
                yield pb.TranslateStreamRequest(id=str(i), text=segments[i], options=self.options)

        out: list[tuple[str, float] | None] = [None] * len(segments)
        call = self.client.stub.TranslateStream(requests(), metadata=self.client.metadata)
        try:
            for response in call:
                slots.release()
                i = int(response.id)
                if response.HasField("error"):
                    if response.error.code_name == "UNAVAILABLE":
                        raise _Unavailable(response.error.message)
                    raise SegmentError(i, f"server {self.client.target}: {response.error.code_name}: "
                                          f"{response.error.message}")  # fmt: skip
                out[i] = (response.translation.text, response.translation.score)
                done([i])
        finally:
            stop.set()
            call.cancel()
        missing = sum(o is None for o in out)
        if missing:
            raise TranslatorError(f"server {self.client.target} ended the stream with {missing} texts unanswered")
        return [o or ("", 0.0) for o in out]


# -- runners: where windows are translated ------------------------------------------------
class Runner(Protocol):
    max_in_flight: int  # windows submitted and not yet collected

    def submit(self, task: WindowTask) -> cf.Future[WindowResult]: ...

    def poll(self) -> int:
        """Lines finished since the last poll (progress reported from elsewhere)."""
        ...

    def close(self, abort: bool) -> None: ...


class InProcessRunner:
    """Translate in this process, one window at a time (progress straight to the bar)."""

    max_in_flight = 1

    def __init__(self, engine: Engine, progress: Callable[[int], object]) -> None:
        self.engine, self.progress = engine, progress

    def submit(self, task: WindowTask) -> cf.Future[WindowResult]:
        future: cf.Future[WindowResult] = cf.Future()
        try:
            future.set_result(translate_window(task, self.engine, self.progress))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def poll(self) -> int:
        return 0

    def close(self, abort: bool) -> None:
        pass


def _drain(q: Any) -> int:
    n = 0
    with contextlib.suppress(queue.Empty):
        while True:
            n += q.get_nowait()
    return n


class ThreadRunner:
    """Windows on `workers` threads over one engine (the remote engine: the server does the work)."""

    def __init__(self, engine: Engine, workers: int) -> None:
        self.engine = engine
        self.pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch")
        self.queue: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.max_in_flight = workers * 2

    def submit(self, task: WindowTask) -> cf.Future[WindowResult]:
        return self.pool.submit(translate_window, task, self.engine, self.queue.put)

    def poll(self) -> int:
        return _drain(self.queue)

    def close(self, abort: bool) -> None:
        if abort and isinstance(self.engine, RemoteEngine):
            self.engine.cancelled.set()
        self.pool.shutdown(wait=not abort, cancel_futures=abort)


_WORKER_ENGINE: LocalEngine | None = None
_WORKER_PROGRESS: Any = None


def _worker_init(spec: EngineSpec, decode: DecodeOptions, progress: Any) -> None:
    global _WORKER_ENGINE, _WORKER_PROGRESS
    _WORKER_ENGINE = LocalEngine(spec.build(), decode)
    _WORKER_PROGRESS = progress


def _worker_run(task: WindowTask) -> WindowResult:
    assert _WORKER_ENGINE is not None
    return translate_window(task, _WORKER_ENGINE, _WORKER_PROGRESS.put)


class ProcessRunner:
    """`workers` spawned processes (fork is unsafe with torch threads), each with its own `Translator`."""

    def __init__(self, spec: EngineSpec, decode: DecodeOptions, workers: int) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.queue = ctx.Queue()
        self.pool = cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_worker_init, initargs=(spec, decode, self.queue)
        )
        self.max_in_flight = workers * 2

    def submit(self, task: WindowTask) -> cf.Future[WindowResult]:
        return self.pool.submit(_worker_run, task)

    def poll(self) -> int:
        return _drain(self.queue)

    def close(self, abort: bool) -> None:
        processes = list(getattr(self.pool, "_processes", {}).values())  # no public terminate() before 3.14
        self.pool.shutdown(wait=not abort, cancel_futures=abort)
        if abort:
            for p in processes:
                with contextlib.suppress(Exception):
                    p.terminate()
        self.queue.close()


class _RayWorker:
    """A Ray actor (wrapped with `ray.remote` at run time): one `Translator` per actor."""

    def __init__(self, spec: EngineSpec, decode: DecodeOptions) -> None:
        self.engine = LocalEngine(spec.build(), decode)

    def run(self, task: WindowTask) -> WindowResult:
        return translate_window(task, self.engine, lambda n: None)


class RayRunner:
    """`workers` Ray actors; windows go to the least busy one. Progress is counted per window."""

    def __init__(self, spec: EngineSpec, decode: DecodeOptions, workers: int) -> None:
        try:
            ray: Any = importlib.import_module("ray")  # Any: type-checks with and without the extra
        except ImportError:
            raise TranslatorError("--backend ray needs Ray: pip install 'translator[ray]'") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:  # a local instance, or the cluster named by $RAY_ADDRESS
            ray.init(logging_level=logging.WARNING, log_to_driver=True)
        actor = ray.remote(num_cpus=max(spec.threads, 1))(_RayWorker)
        self.actors = [actor.remote(spec, decode) for _ in range(workers)]
        self.busy = [0] * workers
        self.max_in_flight = workers * 2
        self.finished_lines = 0
        self.lock = threading.Lock()

    def submit(self, task: WindowTask) -> cf.Future[WindowResult]:
        k = min(range(len(self.actors)), key=lambda a: self.busy[a])
        self.busy[k] += 1
        future: cf.Future[WindowResult] = self.actors[k].run.remote(task).future()

        def finished(f: cf.Future[WindowResult], k: int = k, n: int = len(task.texts)) -> None:
            with self.lock:
                self.busy[k] -= 1
                self.finished_lines += n if f.exception() is None else 0

        future.add_done_callback(finished)
        return future

    def poll(self) -> int:
        with self.lock:
            n, self.finished_lines = self.finished_lines, 0
        return n

    def close(self, abort: bool) -> None:
        for a in self.actors:
            with contextlib.suppress(Exception):
                self.ray.kill(a)
        if self.started:
            self.ray.shutdown()


# -- driving a job ---------------------------------------------------------------------------
def _model_fingerprint(spec: EngineSpec) -> dict[str, Any]:
    from translator.bundle import MANIFEST, default_model_dir, read_manifest, sha256

    model_dir = Path(spec.model) if spec.model else default_model_dir()
    read_manifest(model_dir)  # a clear error for a missing or bad bundle
    return {
        "manifest_sha256": sha256(model_dir / MANIFEST),
        "engine": spec.engine,
        "variant": spec.variant,
        "device": spec.device,
    }


def _open_remote(job: JobSpec) -> tuple[RemoteEngine, dict[str, Any], Any]:
    """(engine, {"model": fingerprint, "rules": version}, client) for `--server`; the tokenizer
    comes from the local bundle."""
    from translator.bundle import default_model_dir
    from translator.client import TranslatorClient

    assert job.server is not None
    client = TranslatorClient(
        job.server, api_key=job.api_key, tls=job.tls, root_certificates=job.tls_ca, timeout=30.0, retries=8
    )
    model_dir = Path(job.engine.model) if job.engine.model else default_model_dir()
    try:
        info, tokenizer = client.served_model(model_dir)  # the tokenizer counts tokens here
    except TranslatorError:
        client.close()
        raise
    limit = min(job.engine.max_input_tokens, info.max_input_tokens or job.engine.max_input_tokens)
    engine = RemoteEngine(client, tokenizer, limit, job.decode, job.max_in_flight)
    rules = info.translation_rules or None  # 0: a server from before the field
    info.ClearField("translation_rules")  # the rules are recorded on their own (`Journal`)
    model = {"server_model_info_sha256": hashlib.sha256(info.SerializeToString(deterministic=True)).hexdigest()}
    return engine, {"model": model, "rules": rules}, client


def _progress_bar(total: int, initial: int, label: str, quiet: bool) -> tqdm:
    from translator.progress import progress_bar

    return progress_bar(total=total, initial=initial, desc=Path(label).name, unit="sent", disable=quiet, smoothing=0.1)


def _unwrap(exc: BaseException, server: str | None) -> BaseException:
    cause = getattr(exc, "cause", None)  # a Ray task error carries the worker's exception
    if isinstance(cause, BaseException):
        exc = cause
    import grpc

    if isinstance(exc, grpc.RpcError):
        code = exc.code().name if callable(getattr(exc, "code", None)) else "ERROR"
        details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
        return TranslatorError(f"server {server}: {code}: {details}")
    return exc


@contextlib.contextmanager
def _quiet_logs(quiet: bool) -> Iterator[None]:
    """`--quiet`: the job's info logs (resuming, model loading) are silenced too; warnings stay."""
    if not quiet:
        yield
        return
    root = logging.getLogger("translator")
    level = root.level
    root.setLevel(max(logging.WARNING, level))
    try:
        yield
    finally:
        root.setLevel(level)


def run_job(job: JobSpec) -> Summary:
    """Run (or resume) a batch job; returns its summary. Errors are `TranslatorError`s naming the line."""
    with _quiet_logs(job.quiet):
        return _run_job(job)


def _run_job(job: JobSpec) -> Summary:
    job.validate()
    t0 = time.perf_counter()
    label = str(job.input)
    scan = scan_input(job.input, check_utf8=job.errors == "strict")
    windows = math.ceil(scan.lines / job.window)
    if job.fmt.kind == "jsonl":  # a malformed line is an error before any work (and before the journal)
        check_records(job.input, job.window, job.fmt, job.errors, label)

    remote: tuple[RemoteEngine, dict[str, Any], Any] | None = _open_remote(job) if job.server else None
    # the model and the translation rules: a server's are its own (its model info; rules None from
    # a server that does not say), a local engine's are its bundle's and this package's
    served = remote[1] if remote else {"model": _model_fingerprint(job.engine), "rules": TRANSLATION_RULES}
    fingerprint = {"input": {"size": scan.size, "sha256": scan.sha256}, **served, "options": job.options_fingerprint()}
    journal = Journal(job.output, fingerprint) if job.output is not None else None
    sink: Journal | StdoutSink = journal if journal is not None else StdoutSink()
    runner: Runner | None = None
    bar: tqdm | None = None
    abort = True
    committed: dict[int, dict[str, int]] = {}
    try:
        committed = journal.open(job.restart) if journal is not None else {}
        committed = {k: v for k, v in committed.items() if k < windows}
        counts = {k: sum(c[k] for c in committed.values()) for k in COUNTERS}
        resumed = counts["lines"]
        if resumed:
            logger.info("resuming %s: %d of %d lines already done", job.output, resumed, scan.lines)
        bar = _progress_bar(scan.lines, resumed, label, job.quiet)
        if len(committed) == windows:
            pass  # only the final assembly is left
        elif remote is not None:
            runner = ThreadRunner(remote[0], job.workers)
        elif job.backend == "ray":
            runner = RayRunner(job.engine, job.decode, job.workers)
        elif job.workers > 1:
            runner = ProcessRunner(job.engine, job.decode, job.workers)
        else:
            runner = InProcessRunner(LocalEngine(job.engine.build(), job.decode), bar.update)

        pending: dict[cf.Future[WindowResult], list[Any]] = {}

        def collect(block: bool) -> None:
            assert runner is not None
            while True:
                finished, _ = cf.wait(pending, timeout=0.2 if block else 0, return_when=cf.FIRST_COMPLETED)
                bar.update(runner.poll())
                if finished or not block:
                    break
            for future in finished:
                records = pending.pop(future)
                try:
                    result = future.result()
                except Exception as exc:
                    raise _unwrap(exc, job.server) from None
                data = format_window(records, result.translations, job.fmt, result.scores)
                window_counts = {**result.counts, "lines": len(records), "replaced": sum(r.replaced for r in records)}
                sink.commit(result.index, data, window_counts)
                for k in COUNTERS:
                    counts[k] += window_counts[k]

        for index, raw in enumerate(iter_windows(job.input, job.window)):
            if index in committed:
                continue
            assert runner is not None
            first = index * job.window + 1
            records = parse_window(raw, first, job.fmt, job.errors, label)
            task = WindowTask(index, first, [r.text for r in records], label, job.overlong)
            while len(pending) + sink.backlog() >= runner.max_in_flight:
                collect(block=True)
            pending[runner.submit(task)] = records
            collect(block=False)
        while pending:
            collect(block=True)
        if counts["lines"] != scan.lines:
            raise InputError(f"{label} changed while it was read ({scan.lines} lines, then {counts['lines']})")
        if journal is not None:
            journal.finish(windows)
        abort = False
    except InputError:
        # The same command would fail the same way and the corrected one (other input or
        # options) could not resume this journal: with nothing committed, remove it.
        if journal is not None and not committed and not journal.committed_any():
            journal.discard()
        raise
    finally:
        if bar is not None:
            bar.close()
        if runner is not None:
            runner.close(abort)
        if journal is not None:
            journal.close()
        if remote is not None:
            remote[2].close()
    return Summary(counts, resumed, time.perf_counter() - t0, str(job.output) if job.output else "stdout")
