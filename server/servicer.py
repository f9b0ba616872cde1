"""The `translator.v1.Translator` servicer: one method per rpc, mapping messages to and from library types."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from server.batcher import Batcher, DecodeOptions
from server.config import ServerConfig
from server.errors import LimitError, UnimplementedError, status_for
from server.metrics import Metrics
from translator._proto import translator_pb2 as pb
from translator._proto import translator_pb2_grpc as pb_grpc
from translator.config import TRANSLATION_RULES, DecodeConfig
from translator.errors import TranslatorError
from translator.inference import TranslationResult, Translator

DEFAULT_METHOD = "grow-diag-final-and"


def load_align() -> Callable[..., Any]:
    """`translator.align.align`, or UNIMPLEMENTED when this build has no alignment module."""
    try:
        from translator.align import align
    except ImportError as exc:
        raise UnimplementedError(f"alignment is not available in this build (translator.align: {exc})") from None
    return align


def engine_info(translator: Translator) -> tuple[str, str, str]:
    """(engine, device, variant) of a loaded translator."""
    engine = translator.engine
    kind = "onnx" if type(engine).__name__ == "OrtEngine" else "torch"
    device = getattr(engine, "device_type", None) or str(getattr(getattr(engine, "device", None), "type", "cpu"))
    return kind, device, str(getattr(engine, "variant", "") or "")


class TranslatorServicer(pb_grpc.TranslatorServicer):
    def __init__(self, config: ServerConfig, metrics: Metrics) -> None:
        self.config = config
        self.metrics = metrics
        self.translator: Translator | None = None  # set by the server once loaded
        self.batcher: Batcher | None = None

    # -- helpers -------------------------------------------------------------
    def _ready(self) -> tuple[Translator, Batcher]:
        assert self.translator is not None and self.batcher is not None  # the interceptor refuses calls before
        return self.translator, self.batcher

    def _options(self, o: pb.TranslateOptions) -> DecodeOptions:
        c = self.config
        beam = o.beam_size or 5
        if o.beam_size < 0 or o.n_best < 0 or o.max_length < 0:
            raise TranslatorError("beam_size, n_best and max_length must be >= 0 (0: the default)")
        if beam > c.max_beam_size:
            raise TranslatorError(f"beam_size {beam} is over the limit max_beam_size={c.max_beam_size}")
        opts = DecodeOptions(
            beam_size=beam,
            n_best=o.n_best or 1,
            max_length=o.max_length or 256,
            length_penalty=o.length_penalty if o.HasField("length_penalty") else 1.0,
            max_length_ratio=o.max_length_ratio if o.HasField("max_length_ratio") else 2.0,
        )
        DecodeConfig(  # the library's checks (n_best, finite length penalty and ratio), before queueing
            beam_size=opts.beam_size,
            n_best=opts.n_best,
            max_length=opts.max_length,
            length_penalty=opts.length_penalty,
            max_length_ratio=opts.max_length_ratio,
        ).validate()
        return opts

    def _check_text(self, label: str, text: str) -> None:
        limit = self.config.max_chars_per_text
        if len(text) > limit:
            raise LimitError(f"{label} is {len(text)} characters long; the limit is max_chars_per_text={limit}")

    @staticmethod
    def _deadline(context: grpc.aio.ServicerContext) -> float | None:
        remaining = context.time_remaining()
        return None if remaining is None else time.monotonic() + remaining

    async def _translation(self, result: TranslationResult, o: pb.TranslateOptions) -> pb.Translation:
        hyps = []
        for h in result.hypotheses:
            hyp = pb.Hypothesis(text=h.text)
            if o.return_scores:
                hyp.score, hyp.log_prob = h.score, h.log_prob
            hyps.append(hyp)
        if o.return_alignment and result.source.strip():
            translator, batcher = self._ready()
            align = load_align()
            todo = [n for n, h in enumerate(result.hypotheses) if h.text.strip()]
            targets = [result.hypotheses[n].text for n in todo]
            alignments = await batcher.run(align, translator, [result.source] * len(targets), targets)
            for hyp, a in zip([hyps[n] for n in todo], alignments, strict=True):
                hyp.alignment.extend(pb.WordLink(source=i, target=j, score=s) for i, j, s in a.links)
                hyp.pharaoh = a.pharaoh()
        best = result.hypotheses[0]
        return pb.Translation(text=best.text, score=best.score if o.return_scores else 0.0, hypotheses=hyps)

    # -- rpcs ----------------------------------------------------------------
    async def Translate(self, request: pb.TranslateRequest, context: grpc.aio.ServicerContext) -> pb.TranslateResponse:
        _, batcher = self._ready()
        texts = list(request.texts)
        if not texts:
            raise TranslatorError("the request has no texts")
        limit = self.config.max_texts_per_request
        if len(texts) > limit:
            raise LimitError(f"{len(texts)} texts in one request; the limit is max_texts_per_request={limit}")
        for n, text in enumerate(texts):
            self._check_text(f"text {n}", text)
        opts = self._options(request.options)
        results = await batcher.translate(texts, opts, self._deadline(context))
        return pb.TranslateResponse(translations=[await self._translation(r, request.options) for r in results])

    async def TranslateStream(
        self, request_iterator: AsyncIterator[pb.TranslateStreamRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.TranslateStreamResponse]:
        _, batcher = self._ready()
        deadline = self._deadline(context)
        slots = asyncio.Semaphore(self.config.stream_max_in_flight)
        pending: asyncio.Queue[asyncio.Task[pb.TranslateStreamResponse] | None] = asyncio.Queue()

        async def one(req: pb.TranslateStreamRequest) -> pb.TranslateStreamResponse:
            try:
                label = f"item {req.id!r}"
                self._check_text(label, req.text)
                [result] = await batcher.translate([req.text], self._options(req.options), deadline, [label])
                return pb.TranslateStreamResponse(id=req.id, translation=await self._translation(result, req.options))
            except Exception as exc:
                code, message = status_for(exc)
                err = pb.ItemError(code=code.value[0], code_name=code.name, message=message)
                return pb.TranslateStreamResponse(id=req.id, error=err)

        async def reader() -> None:
            # Take a slot before reading the next item: at most stream_max_in_flight items are read
            # and not yet answered, and HTTP/2 flow control holds back the rest on the client.
            try:
                iterator = request_iterator.__aiter__()
                while True:
                    await slots.acquire()
                    try:
                        req = await iterator.__anext__()
                    except StopAsyncIteration:
                        break
                    outstanding[0] += 1
                    self.metrics.in_flight.inc()
                    await pending.put(asyncio.ensure_future(one(req)))
            finally:
                await pending.put(None)

        outstanding = [0]  # items read and not yet answered
        read_task = asyncio.ensure_future(reader())
        current: asyncio.Task[pb.TranslateStreamResponse] | None = None
        try:
            while (current := await pending.get()) is not None:
                response = await current
                current = None
                yield response
                outstanding[0] -= 1
                self.metrics.in_flight.dec()
                slots.release()
            await read_task  # re-raise a failure of the request stream
        finally:
            # A cancelled call (or a failed stream) frees its slots: queued items are cancelled.
            read_task.cancel()
            if current is not None:
                current.cancel()
            while not pending.empty():
                leftover = pending.get_nowait()
                if leftover is not None:
                    leftover.cancel()
            self.metrics.in_flight.dec(outstanding[0])
            outstanding[0] = 0
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await read_task

    async def Align(self, request: pb.AlignRequest, context: grpc.aio.ServicerContext) -> pb.AlignResponse:
        translator, batcher = self._ready()
        granularity = request.attention
        if granularity not in pb.AttentionGranularity.values():  # proto3 enums are open: any int arrives
            allowed = ", ".join(f"{name} ({number})" for name, number in pb.AttentionGranularity.items())
            raise TranslatorError(f"attention: unknown AttentionGranularity value {granularity}; allowed: {allowed}")
        align = load_align()
        self._check_text("the source", request.source)
        if not batcher.count_tokens("the source", request.source):  # blank, or nothing the tokenizer keeps
            raise TranslatorError("the source is empty")
        target: str | None = None
        if request.HasField("target"):
            self._check_text("the target", request.target)
            batcher.count_tokens("the target", request.target)
            target = request.target
        beam = request.beam_size or 5
        if not 1 <= beam <= self.config.max_beam_size:
            raise TranslatorError(f"beam_size must be between 1 and max_beam_size={self.config.max_beam_size}")
        kwargs: dict[str, Any] = {
            "method": request.method or DEFAULT_METHOD,
            "beam_size": beam,
            "return_raw_attention": granularity
            in (pb.ATTENTION_GRANULARITY_FULL, pb.ATTENTION_GRANULARITY_LAYER, pb.ATTENTION_GRANULARITY_MEAN),
        }
        if request.HasField("layer"):
            kwargs["layer"] = request.layer
        if request.HasField("head"):
            kwargs["head"] = request.head
        targets = None if target is None else [target]
        [a] = await batcher.run(align, translator, [request.source], targets, **kwargs)
        response = pb.AlignResponse(
            source=request.source,
            target=a.target,
            source_words=list(a.source_words),
            target_words=list(a.target_words),
            source_tokens=list(a.source_tokens),
            target_tokens=list(a.target_tokens),
            links=[pb.WordLink(source=i, target=j, score=float(s)) for i, j, s in a.links],
            pharaoh=a.pharaoh(),
        )
        if granularity == pb.ATTENTION_GRANULARITY_WORDS:
            t = a.attention.detach().float().cpu()[None, None]
        elif kwargs["return_raw_attention"] and a.raw_attention is not None:
            t = a.raw_attention.detach().float().cpu()  # [layers, heads, target + EOS, source + EOS]
            if granularity == pb.ATTENTION_GRANULARITY_LAYER:
                t = t.mean(dim=1, keepdim=True)
            elif granularity == pb.ATTENTION_GRANULARITY_MEAN:
                t = t.mean(dim=(0, 1), keepdim=True)
        else:
            return response
        response.attention.shape.extend(int(d) for d in t.shape)
        response.attention.values.extend(t.flatten().tolist())
        return response

    async def GetModelInfo(self, request: pb.GetModelInfoRequest, context: grpc.aio.ServicerContext) -> pb.ModelInfo:
        translator, _ = self._ready()
        cfg, manifest = translator.config, translator.manifest
        engine, device, variant = engine_info(translator)
        return pb.ModelInfo(
            name=str(manifest.get("name", "")),
            version=str(manifest.get("version", "")),
            vocab_size=cfg.vocab_size,
            encoder_layers=cfg.encoder_layers,
            decoder_layers=cfg.decoder_layers,
            heads=cfg.n_heads,
            d_model=cfg.d_model,
            engine=engine,
            device=device,
            variant=variant,
            max_input_tokens=translator.max_input_tokens,
            training_json=json.dumps(manifest.get("training", {}), sort_keys=True),
            translation_rules=TRANSLATION_RULES,
        )
