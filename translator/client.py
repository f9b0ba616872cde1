"""A synchronous client of the gRPC translation service (`translator.v1.Translator`).

    from translator.client import TranslatorClient

    with TranslatorClient("localhost:50051") as client:
        [t] = client.translate(["A dog runs on the beach."], beam_size=5, n_best=2)
        print(t.text, [h.text for h in t.hypotheses])

Unary calls are retried with exponential backoff while the server answers
UNAVAILABLE (starting, draining, or not reachable yet). Errors surface as
`grpc.RpcError` (with `.code()` and `.details()`), except that
`translate_checked` and `translate_texts` raise `TranslatorError` so the CLI
prints one line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from translator._proto import translator_pb2 as pb
from translator._proto import translator_pb2_grpc as pb_grpc
from translator.errors import TranslatorError

if TYPE_CHECKING:
    from translator.tokenizer import Tokenizer

T = TypeVar("T")
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
RETRYABLE = (grpc.StatusCode.UNAVAILABLE,)
_TEXT_INDEX = re.compile(r"^text (\d+)\b")  # the server's name of a text of a Translate request


def _shift_text_index(details: str, offset: int) -> str:
    """A server error about "text N" of a request that started at text `offset` of the input."""
    return _TEXT_INDEX.sub(lambda m: f"text {int(m[1]) + offset}", details, count=1)


class TranslatorClient:
    """Sync client. `target` is HOST:PORT; `api_key` is sent as `x-api-key` metadata.

    TLS: pass `tls=True` (system roots) or `root_certificates` (PEM bytes or a
    file path). `timeout` is the default deadline of every call in seconds;
    `retries` is how many times a call that got UNAVAILABLE is tried again.
    """

    def __init__(
        self,
        target: str,
        *,
        api_key: str | None = None,
        tls: bool = False,
        root_certificates: bytes | str | Path | None = None,
        timeout: float | None = 60.0,
        retries: int = 5,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        if tls or root_certificates is not None:
            roots = root_certificates
            if isinstance(roots, str | Path):
                path = Path(roots)
                try:
                    roots = path.read_bytes()
                except OSError as exc:
                    raise TranslatorError(f"cannot read the TLS root certificates {path}: {exc.strerror}") from None
            creds = grpc.ssl_channel_credentials(root_certificates=roots)
            self.channel = grpc.secure_channel(target, creds, options=options)
        else:
            self.channel = grpc.insecure_channel(target, options=options)
        self.stub = pb_grpc.TranslatorStub(self.channel)
        self.target = target
        self.metadata: tuple[tuple[str, str], ...] = (("x-api-key", api_key),) if api_key else ()
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    def __enter__(self) -> TranslatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return method(request, timeout=self.timeout if timeout is None else timeout, metadata=self.metadata)
            except grpc.RpcError as exc:
                if exc.code() not in RETRYABLE or attempt == self.retries:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    # -- rpcs ----------------------------------------------------------------
    def translate(
        self,
        texts: Sequence[str],
        *,
        beam_size: int = 5,
        n_best: int = 1,
        max_length: int = 256,
        length_penalty: float = 1.0,
        max_length_ratio: float = 2.0,
        return_scores: bool = True,
        return_alignment: bool = False,
        max_batch_size: int = 64,
        timeout: float | None = None,
    ) -> list[pb.Translation]:
        """One `Translation` per text, in order (sent in requests of at most `max_batch_size` texts)."""
        options = pb.TranslateOptions(
            beam_size=beam_size,
            n_best=n_best,
            max_length=max_length,
            length_penalty=length_penalty,
            max_length_ratio=max_length_ratio,
            return_scores=return_scores,
            return_alignment=return_alignment,
        )
        out: list[pb.Translation] = []
        step = max(max_batch_size, 1)
        for start in range(0, len(texts), step):
            request = pb.TranslateRequest(texts=list(texts[start : start + step]), options=options)
            out.extend(self._call(self.stub.Translate, request, timeout).translations)
        return out

    def translate_checked(self, texts: Sequence[str], **kwargs: Any) -> list[pb.Translation]:
        """`translate`, with a gRPC error turned into a `TranslatorError` naming the status.

        The texts go in requests of at most `max_batch_size`; the server names a text
        by its index in its request ("text 5 is ..."), which the error message turns
        into the index in `texts`, as the local `Translator` names it.
        """
        step = max(int(kwargs.pop("max_batch_size", 64)), 1)
        out: list[pb.Translation] = []
        for start in range(0, len(texts), step):
            try:
                out.extend(self.translate(texts[start : start + step], max_batch_size=step, **kwargs))
            except grpc.RpcError as exc:
                details = _shift_text_index(exc.details() or "", start)
                raise TranslatorError(f"server {self.target}: {exc.code().name}: {details}") from None
        return out

    def translate_texts(self, texts: Sequence[str], **kwargs: Any) -> list[str]:
        """Only the best texts (`translate_checked`)."""
        return [t.text for t in self.translate_checked(texts, **kwargs)]

    def translate_stream(
        self,
        items: Iterable[tuple[str, str]],
        *,
        options: pb.TranslateOptions | None = None,
        timeout: float | None = None,
    ) -> Iterator[pb.TranslateStreamResponse]:
        """Stream (id, text) pairs; yields one response per item, in order (not retried)."""
        requests = (pb.TranslateStreamRequest(id=i, text=t, options=options) for i, t in items)
        yield from self.stub.TranslateStream(requests, timeout=timeout, metadata=self.metadata)

    def align(
        self,
        source: str,
        target: str | None = None,
        *,
        method: str = "",
        layer: int | None = None,
        head: int | None = None,
        attention: pb.AttentionGranularity.ValueType = pb.ATTENTION_GRANULARITY_UNSPECIFIED,
        beam_size: int = 5,
        timeout: float | None = None,
    ) -> pb.AlignResponse:
        """Word links of `source` with `target` (None: with the server's translation, made with `beam_size`)."""
        request = pb.AlignRequest(
            source=source,
            target=target,
            method=method,
            layer=layer,
            head=head,
            attention=attention,
            beam_size=beam_size,
        )
        return self._call(self.stub.Align, request, timeout)

    def model_info(self, timeout: float | None = None) -> pb.ModelInfo:
        return self._call(self.stub.GetModelInfo, pb.GetModelInfoRequest(), timeout)

    def model_info_checked(self) -> pb.ModelInfo:
        """`model_info`, with a gRPC error turned into a `TranslatorError` naming the status."""
        try:
            return self.model_info()
        except grpc.RpcError as exc:
            raise TranslatorError(f"server {self.target}: {exc.code().name}: {exc.details()}") from None

    def served_model(self, model_dir: Path) -> tuple[pb.ModelInfo, Tokenizer]:
        """(`ModelInfo`, tokenizer of the local bundle `model_dir`) after checking that the server
        serves that bundle's model (same name and vocabulary): the server translates with its own
        model, so a local bundle that counts tokens or is named by `--model` must be that one."""
        from translator.bundle import TOKENIZER, read_manifest
        from translator.tokenizer import Tokenizer

        info = self.model_info_checked()
        manifest = read_manifest(model_dir)
        tokenizer = Tokenizer(model_dir / TOKENIZER)
        if info.name != manifest.get("name") or info.vocab_size != tokenizer.vocab_size:
            raise TranslatorError(
                f"server {self.target} serves model {info.name!r} (vocabulary {info.vocab_size}) but the local "
                f"bundle {model_dir} is {manifest.get('name')!r} (vocabulary {tokenizer.vocab_size}); "
                "pass --model with the server's bundle"
            )
        return info, tokenizer

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the health service says SERVING (raises `TranslatorError` after `timeout`)."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self.channel)
        end = time.monotonic() + timeout
        while True:
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2.0).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > end:
                raise TranslatorError(f"server {self.target} is not serving after {timeout:.0f} s")
            time.sleep(0.1)
