"""Service errors and the one mapping from exceptions to gRPC status codes."""

from __future__ import annotations

import time

import grpc

from translator.errors import TranslatorError


class ServiceError(Exception):
    """An error with a fixed gRPC status code."""

    code = grpc.StatusCode.INTERNAL


class LimitError(ServiceError):
    """A configured limit was exceeded (the message names it)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class UnavailableError(ServiceError):
    """The server is starting (model not loaded yet) or draining."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineError(ServiceError):
    """The call's deadline passed before its texts were computed."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class UnauthenticatedError(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED


class UnimplementedError(ServiceError):
    code = grpc.StatusCode.UNIMPLEMENTED


# gRPC cancels a call when its deadline passes; a cancellation this close to the
# deadline (or after it) is counted as DEADLINE_EXCEEDED.
DEADLINE_SLACK_S = 0.05


def deadline_passed(deadline: float | None, now: float | None = None) -> bool:
    """Whether `deadline` (time.monotonic() seconds, None: no deadline) has passed."""
    if deadline is None:
        return False
    return (time.monotonic() if now is None else now) >= deadline - DEADLINE_SLACK_S


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message of an exception raised while serving a call.

    `ServiceError`s carry their code; `TranslatorError` (bad input or options)
    is INVALID_ARGUMENT; anything else is INTERNAL with a generic message (the
    details go to the log, not to the client).
    """
    if isinstance(exc, ServiceError):
        return exc.code, str(exc)
    if isinstance(exc, TranslatorError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    return grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see the server log"
