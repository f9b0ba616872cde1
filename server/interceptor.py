"""The one server interceptor: readiness, API keys, exception -> status mapping, metrics and access logs."""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from server.errors import (
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
    deadline_passed,
    status_for,
)
from server.metrics import Metrics
from translator.errors import TranslatorError

logger = logging.getLogger("server.access")
SERVICE_PREFIX = "/translator.v1.Translator/"


@dataclasses.dataclass(frozen=True)
class _Call:
    """What the access log and metrics need of a call, read when it starts: once the call is
    cancelled, gRPC may already have freed it, and reading its peer then can crash the process."""

    t0: float  # time.perf_counter()
    peer: str
    deadline: float | None  # time.monotonic() seconds

    @classmethod
    def start(cls, context: grpc.aio.ServicerContext) -> _Call:
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining
        return cls(time.perf_counter(), context.peer(), deadline)

    def cancelled_code(self) -> grpc.StatusCode:
        """gRPC cancels the handler both when the client cancels and when the deadline passes."""
        return grpc.StatusCode.DEADLINE_EXCEEDED if deadline_passed(self.deadline) else grpc.StatusCode.CANCELLED


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every `translator.v1.Translator` method (health and reflection pass through untouched).

    Before the call: UNAVAILABLE while the model is loading or the server is
    draining (`state()` returns a reason), then the API key check (missing:
    UNAUTHENTICATED, wrong: PERMISSION_DENIED). Requests are parsed here, not
    by gRPC before the call, so that bytes that are not a valid message (a
    string with bad UTF-8, a broken encoding) are INVALID_ARGUMENT, counted
    and logged like any call, instead of UNKNOWN with a stack trace. Any
    exception the servicer raises becomes a status through
    `server.errors.status_for`; this is the only place that turns exceptions
    into statuses.
    """

    def __init__(self, metrics: Metrics, api_keys: tuple[str, ...], state: Callable[[], str | None]) -> None:
        self.metrics = metrics
        self.api_keys = tuple(k.encode() for k in api_keys)
        self.state = state

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method_path: str = handler_call_details.method
        if handler is None or not method_path.startswith(SERVICE_PREFIX):
            return handler
        method = method_path.removeprefix(SERVICE_PREFIX)
        parse = handler.request_deserializer
        if handler.unary_unary is not None:
            wrapped = self._wrap_unary(handler.unary_unary, method, parse)
            return handler._replace(unary_unary=wrapped, request_deserializer=None)
        if handler.stream_stream is not None:
            wrapped_stream = self._wrap_stream(handler.stream_stream, method, parse)
            return handler._replace(stream_stream=wrapped_stream, request_deserializer=None)
        return handler

    # -- checks ----------------------------------------------------------------
    @staticmethod
    def _parse(parse: Callable[[bytes], Any] | None, raw: Any, method: str) -> Any:
        if parse is None:
            return raw
        try:
            return parse(raw)
        except DecodeError as exc:
            raise TranslatorError(f"malformed {method} request: {exc}") from None

    def _admit(self, context: grpc.aio.ServicerContext) -> None:
        reason = self.state()
        if reason is not None:
            raise UnavailableError(reason)
        if not self.api_keys:
            return
        metadata = {k.lower(): v for k, v in (context.invocation_metadata() or ())}
        key = metadata.get("x-api-key")
        if key is None and str(metadata.get("authorization", "")).lower().startswith("bearer "):
            key = str(metadata["authorization"])[7:].strip()
        if not key:
            raise UnauthenticatedError("an API key is required (metadata x-api-key or authorization: Bearer KEY)")
        raw = key.encode() if isinstance(key, str) else bytes(key)
        if not any(hmac.compare_digest(raw, k) for k in self.api_keys):
            raise PermissionDeniedError("the API key is not valid")

    def _fail(self, context: grpc.aio.ServicerContext, method: str, exc: Exception) -> grpc.StatusCode:
        """Set the call's status from `exc`. Not `abort`: that sends the status at once, before
        the wrapper's `finally` has counted the call, so a client could read /metrics too early;
        a status set here goes out when the wrapper returns."""
        code, message = status_for(exc)
        if code == grpc.StatusCode.INTERNAL:
            logger.error("unhandled error in %s", method, exc_info=exc)
        context.set_code(code)
        context.set_details(message)
        return code

    def _done(self, method: str, code: grpc.StatusCode, call: _Call, **extra: Any) -> None:
        seconds = time.perf_counter() - call.t0
        self.metrics.requests.labels(method, code.name).inc()
        if code != grpc.StatusCode.OK:
            self.metrics.errors.labels(method, code.name).inc()
        self.metrics.latency.labels(method).observe(seconds)
        logger.info(
            "rpc",
            extra={
                "method": method,
                "code": code.name,
                "latency_ms": round(seconds * 1000, 2),
                "peer": call.peer,
                **extra,
            },
        )

    # -- wrappers ------------------------------------------------------------
    def _wrap_unary(
        self, behavior: Callable[..., Awaitable[Any]], method: str, parse: Callable[[bytes], Any] | None
    ) -> Callable[..., Awaitable[Any]]:
        async def wrapper(raw: Any, context: grpc.aio.ServicerContext) -> Any:
            call, code = _Call.start(context), grpc.StatusCode.OK
            try:
                self._admit(context)
                return await behavior(self._parse(parse, raw, method), context)
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except asyncio.CancelledError:
                code = call.cancelled_code()
                raise
            except Exception as exc:
                code = self._fail(context, method, exc)
                return None
            finally:
                self._done(method, code, call)

        return wrapper

    def _wrap_stream(
        self, behavior: Callable[..., AsyncIterator[Any]], method: str, parse: Callable[[bytes], Any] | None
    ) -> Callable[..., AsyncIterator[Any]]:
        async def wrapper(raw_iterator: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            call, code, items = _Call.start(context), grpc.StatusCode.OK, 0

            async def requests() -> AsyncIterator[Any]:
                async for raw in raw_iterator:
                    yield self._parse(parse, raw, method)

            try:
                self._admit(context)
                async for response in behavior(requests(), context):
                    items += 1
                    yield response
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except (asyncio.CancelledError, GeneratorExit):
                code = call.cancelled_code()
                raise
            except Exception as exc:
                code = self._fail(context, method, exc)
            finally:
                self._done(method, code, call, items=items)

        return wrapper
