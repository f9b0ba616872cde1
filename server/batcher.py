"""Dynamic batching: concurrent calls' texts are coalesced into engine batches.

Every text of every call becomes a queue item with a future. One worker task
takes items with the same decoding options, oldest first, until the batch
reaches the token budget (source tokens x beam) or `max_batch_size` texts, or
until the oldest item has waited `max_wait_ms`; the engine then runs in a
single worker thread, so the event loop stays responsive. While a batch
computes, new items queue up and form the next batch.

An item whose call was cancelled is skipped (its future is cancelled, which
also frees its queue slot at once); an item whose deadline passed is dropped
with DEADLINE_EXCEEDED without being computed.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from server.errors import DeadlineError, LimitError, UnavailableError, deadline_passed
from server.metrics import Metrics
from translator.errors import TranslatorError
from translator.inference import Hypothesis, TranslationResult, Translator

logger = logging.getLogger("server.batcher")
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """The options that must be equal for texts to share an engine batch."""

    beam_size: int = 5
    n_best: int = 1
    max_length: int = 256
    length_penalty: float = 1.0
    max_length_ratio: float = 2.0
    return_attention: bool = False


@dataclasses.dataclass(eq=False)
class _Item:
    text: str
    tokens: int  # source pieces + EOS
    options: DecodeOptions
    deadline: float | None  # time.monotonic() seconds
    future: asyncio.Future[TranslationResult]
    enqueued: float

    @property
    def cost(self) -> int:
        return self.tokens * self.options.beam_size


class Batcher:
    def __init__(
        self,
        translator: Translator,
        executor: concurrent.futures.Executor,
        metrics: Metrics,
        *,
        max_batch_tokens: int = 4096,
        max_batch_size: int = 64,
        max_wait_ms: float = 5.0,
        max_queue_items: int = 1024,
        max_tokens_per_text: int = 256,
    ) -> None:
        self.translator = translator
        self.executor = executor
        self.metrics = metrics
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue_items = max_queue_items
        self.max_tokens_per_text = max_tokens_per_text
        self._queue: collections.deque[_Item] = collections.deque()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.computed_items = 0  # texts that went through the engine (for tests and logs)

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._worker(), name="batcher")

    async def stop(self) -> None:
        """Fail what is still queued with UNAVAILABLE and stop the worker."""
        self._closed = True
        for item in self._queue:
            if not item.future.done():
                item.future.set_exception(UnavailableError("the server is shutting down"))
        self._queue.clear()
        self._update_depth()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- submitting ----------------------------------------------------------
    def count_tokens(self, label: str, text: str) -> int:
        """Subword pieces of `text` (without EOS); over the limit: RESOURCE_EXHAUSTED naming it
        and `label` (which text of the call: "text 3", "item 'a7'", "the target")."""
        count = len(self.translator.tokenizer.encode(text)) if text.strip() else 0
        if count > self.max_tokens_per_text:
            raise LimitError(
                f"{label} is {count} tokens long; the limit is max_tokens_per_text={self.max_tokens_per_text}"
            )
        return count

    async def translate(
        self,
        texts: list[str],
        options: DecodeOptions,
        deadline: float | None = None,
        labels: list[str] | None = None,
    ) -> list[TranslationResult]:
        """Translate `texts` (one result per text, in order), batched with other calls' texts.
        `labels` name the texts in errors (default "text 0", "text 1", ...)."""
        if self._closed:
            raise UnavailableError("the server is draining")
        labels = labels or [f"text {n}" for n in range(len(texts))]
        counts = [self.count_tokens(label, t) for label, t in zip(labels, texts, strict=True)]
        work = sum(1 for c in counts if c)
        if len(self._queue) + work > self.max_queue_items:
            raise LimitError(
                f"the server queue is full ({len(self._queue)} texts queued; max_queue_items={self.max_queue_items})"
            )
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        futures: list[asyncio.Future[TranslationResult]] = []
        for text, count in zip(texts, counts, strict=True):
            fut: asyncio.Future[TranslationResult] = loop.create_future()
            if count == 0:  # empty or blank: empty translation, no engine work
                fut.set_result(TranslationResult(text, [], [Hypothesis("", 0.0, 0.0, [])]))
            else:
                self._queue.append(_Item(text, count + 1, options, deadline, fut, now))
            futures.append(fut)
        self._update_depth()
        self._changed.set()
        try:
            return list(await asyncio.gather(*futures))
        except BaseException:  # a cancelled or failed call frees its queue slots at once
            for fut in futures:
                fut.cancel()
            self._prune()
            raise

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` on the engine thread (serialised with the batches), e.g. an alignment."""
        if self._closed:
            raise UnavailableError("the server is draining")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    # -- the worker ----------------------------------------------------------
    def _update_depth(self) -> None:
        self.metrics.queue_depth.set(sum(1 for i in self._queue if not i.future.done()))

    def _dropped(self, item: _Item, now: float) -> None:
        """Count an item of a cancelled call (gRPC also cancels a call at its deadline)."""
        self.metrics.dropped.labels("deadline" if deadline_passed(item.deadline, now) else "cancelled").inc()

    def _prune(self) -> None:
        """Drop the items of cancelled calls and those whose deadline passed (they will not be computed)."""
        now = time.monotonic()
        keep: collections.deque[_Item] = collections.deque()
        for item in self._queue:
            if item.future.done():  # cancelled call
                self._dropped(item, now)
                continue
            if deadline_passed(item.deadline, now):
                self.metrics.dropped.labels("deadline").inc()
                item.future.set_exception(DeadlineError("the deadline passed while the text was queued"))
                continue
            keep.append(item)
        self._queue = keep
        self._update_depth()

    def _take(self) -> list[_Item] | None:
        """The next batch, or None if the oldest item should wait for company a little longer."""
        head = self._queue[0]
        batch: list[_Item] = []
        cost = 0
        for item in self._queue:
            if item.options != head.options:
                continue
            if batch and (len(batch) >= self.max_batch_size or cost + item.cost > self.max_batch_tokens):
                break
            batch.append(item)
            cost += item.cost
        full = (
            len(batch) >= self.max_batch_size
            or cost >= self.max_batch_tokens
            or len(batch) < sum(1 for i in self._queue if i.options == head.options)
        )
        if not full and time.monotonic() < head.enqueued + self.max_wait:
            return None
        taken = set(map(id, batch))
        self._queue = collections.deque(i for i in self._queue if id(i) not in taken)
        return batch

    async def _worker(self) -> None:
        while True:
            self._prune()
            if not self._queue:
                self._changed.clear()
                await self._changed.wait()
                continue
            batch = self._take()
            if batch is None:
                self._changed.clear()
                timeout = max(self._queue[0].enqueued + self.max_wait - time.monotonic(), 0.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout)
                continue
            self._update_depth()
            try:
                await self._run_batch(batch)
            except asyncio.CancelledError:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(UnavailableError("the server is shutting down"))
                raise
            except Exception:  # never let the worker die
                logger.exception("batch failed")

    async def _run_batch(self, batch: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        for item in batch:
            self.metrics.queue_wait.observe(now - item.enqueued)
        self.metrics.batch_size.observe(len(batch))
        self.metrics.batch_tokens.observe(sum(i.tokens for i in batch))
        opts = dataclasses.asdict(batch[0].options)
        t0 = time.perf_counter()
        try:
            results = await loop.run_in_executor(self.executor, self._translate, [i.text for i in batch], opts)
        except Exception as exc:
            if len(batch) > 1 and isinstance(exc, TranslatorError):
                for item in batch:  # isolate the text at fault
                    await self._run_batch([item])
                return
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        seconds = time.perf_counter() - t0
        self.computed_items += len(batch)
        generated = sum(len(h.target_tokens) + 1 for r in results for h in r.hypotheses[:1])
        self.metrics.batch_latency.observe(seconds)
        self.metrics.tokens.inc(generated)
        self.metrics.tokens_per_second.set(generated / seconds if seconds > 0 else 0.0)
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)

    def _translate(self, texts: list[str], opts: dict[str, Any]) -> list[TranslationResult]:
        return self.translator.translate(
            texts, **opts, max_batch_size=self.max_batch_size, max_batch_tokens=self.max_batch_tokens
        )
