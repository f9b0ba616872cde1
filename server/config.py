"""`ServerConfig`: every setting of the server, from flags and `TRANSLATOR_*` environment variables.

Precedence: command-line flag > environment variable > default. Each field
`foo_bar` is read from `TRANSLATOR_FOO_BAR` and set by `--foo-bar`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from translator.config import MAX_BEAM_SIZE
from translator.errors import TranslatorError

ENV_PREFIX = "TRANSLATOR_"


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    # model
    model: str | None = None  # bundle directory (default: models/default)
    engine: str = "auto"  # auto | torch | onnx
    device: str = "auto"  # auto | cpu | cuda
    variant: str | None = None  # ONNX variant: fp32 | int8 | fp16
    threads: int = 0  # engine CPU threads (0: library default)
    # network
    host: str = "[::]"
    port: int = 50051  # 0: pick a free port
    metrics_port: int = 9090  # Prometheus /metrics; 0: pick a free port; -1: disabled
    metrics_host: str = "0.0.0.0"
    tls_cert: str | None = None  # PEM certificate chain; with tls_key enables TLS
    tls_key: str | None = None
    api_keys: tuple[str, ...] = ()  # accepted keys (metadata x-api-key or authorization: Bearer); empty: no auth
    # dynamic batching
    max_batch_tokens: int = 4096  # source tokens x beam per engine batch
    max_batch_size: int = 64  # texts per engine batch
    max_wait_ms: float = 5.0  # how long the oldest queued text waits for company
    max_queue_items: int = 1024  # queued texts over all calls (>= max_texts_per_request); more: RESOURCE_EXHAUSTED
    stream_max_in_flight: int = 8  # items of one TranslateStream call being processed at once
    # limits
    max_texts_per_request: int = 64
    max_chars_per_text: int = 2000
    max_tokens_per_text: int = 256
    max_message_bytes: int = 4 * 1024 * 1024
    max_beam_size: int = 16
    # lifecycle
    grace_period_s: float = 10.0  # SIGTERM: time for in-flight calls to finish
    drain_delay_s: float = 0.0  # SIGTERM: report NOT_SERVING (still serving) this long before refusing calls
    warmup_text: str = "A dog runs on the beach."
    reflection: bool = True
    log_format: str = "json"  # json | text
    log_level: str = "INFO"

    def validate(self) -> ServerConfig:
        positive = ("max_batch_tokens", "max_batch_size", "max_queue_items", "stream_max_in_flight",
                    "max_texts_per_request", "max_chars_per_text", "max_tokens_per_text", "max_message_bytes",
                    "max_beam_size")  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                raise TranslatorError(f"server setting {name} must be >= 1, got {getattr(self, name)}")
        if self.max_beam_size > MAX_BEAM_SIZE:
            raise TranslatorError(f"server setting max_beam_size must be <= {MAX_BEAM_SIZE}, got {self.max_beam_size}")
        if self.max_queue_items < self.max_texts_per_request:
            raise TranslatorError(
                f"server setting max_queue_items ({self.max_queue_items}) must be >= max_texts_per_request "
                f"({self.max_texts_per_request}): a request of max_texts_per_request texts could never be queued"
            )
        if min(self.max_wait_ms, self.grace_period_s, self.drain_delay_s) < 0:
            raise TranslatorError("server settings max_wait_ms, grace_period_s and drain_delay_s must be >= 0")
        if not 0 <= self.port <= 65535:
            raise TranslatorError(f"server setting port must be 0 (a free port) to 65535, got {self.port}")
        if not -1 <= self.metrics_port <= 65535:
            raise TranslatorError(
                f"server setting metrics_port must be -1 (off), 0 (a free port) to 65535, got {self.metrics_port}"
            )
        if self.port > 0 and self.port == self.metrics_port:
            raise TranslatorError(f"server settings port and metrics_port are both {self.port}: they need two ports")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise TranslatorError("TLS needs both tls_cert and tls_key")
        if self.log_format not in ("json", "text"):
            raise TranslatorError(f"log_format must be json or text, got {self.log_format!r}")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServerConfig:
        """Defaults, then `TRANSLATOR_*` variables, then `overrides` (None values are ignored)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, str(f.type), raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).validate()

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> ServerConfig:
        return cls.from_namespace(build_parser().parse_args(argv), environ)

    @classmethod
    def from_namespace(cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> ServerConfig:
        """From parsed `build_parser()` flags (unset flags fall back to the environment, then the defaults)."""
        names = {f.name for f in dataclasses.fields(cls)}
        overrides = {k: v for k, v in vars(args).items() if k in names}
        if isinstance(overrides.get("api_keys"), str):
            overrides["api_keys"] = tuple(k.strip() for k in overrides["api_keys"].split(",") if k.strip())
        return cls.from_env(environ, **overrides)


def _parse(name: str, typ: str, raw: str) -> Any:
    try:
        if typ.startswith("int"):
            return int(raw)
        if typ.startswith("float"):
            return float(raw)
        if typ == "bool":
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes", "on")
        if typ.startswith("tuple"):
            return tuple(k.strip() for k in raw.split(",") if k.strip())
    except ValueError:
        raise TranslatorError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {typ}") from None
    return raw


_HELP = {
    "model": "model bundle directory (default: $TRANSLATOR_MODEL or models/default)",
    "port": "gRPC port (0: a free port; default 50051)",
    "metrics_port": "Prometheus /metrics HTTP port (0: free port, -1: off; default 9090)",
    "api_keys": "comma-separated API keys clients must send (x-api-key or authorization: Bearer)",
    "tls_cert": "PEM certificate chain file (TLS needs --tls-key too)",
    "max_wait_ms": "longest time a queued text waits for a fuller batch (default 5)",
    "grace_period_s": "seconds in-flight calls get to finish on SIGTERM (default 10)",
    "drain_delay_s": "on SIGTERM, seconds health reports NOT_SERVING while calls are still served, before "
    "new calls are refused (default 0)",
}


def build_parser() -> argparse.ArgumentParser:
    """Flags of `translator serve`: one per `ServerConfig` field; unset flags fall back to the environment."""
    parser = argparse.ArgumentParser(
        prog="translator serve",
        description="Serve the gRPC translation API. Every flag can also be set as TRANSLATOR_<NAME> "
        "(e.g. TRANSLATOR_PORT=50051); flags win.",
    )
    defaults = ServerConfig()
    for f in dataclasses.fields(ServerConfig):
        flag = "--" + f.name.replace("_", "-")
        env = ENV_PREFIX + f.name.upper()
        default = getattr(defaults, f.name)
        text = _HELP.get(f.name, f.name.replace("_", " "))
        help_ = f"{text} [env {env}; default {default!r}]" if f.name not in _HELP else f"{text} [env {env}]"
        typ = str(f.type)
        if typ == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_)
        elif typ.startswith("int"):
            parser.add_argument(flag, type=int, default=None, help=help_)
        elif typ.startswith("float"):
            parser.add_argument(flag, type=float, default=None, help=help_)
        elif f.name == "engine":
            parser.add_argument(flag, choices=["auto", "torch", "onnx"], default=None, help=help_)
        elif f.name == "device":
            parser.add_argument(flag, choices=["auto", "cpu", "cuda"], default=None, help=help_)
        else:
            parser.add_argument(flag, default=None, help=help_)
    return parser
