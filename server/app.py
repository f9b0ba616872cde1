"""`create_server(config)`: the grpc.aio server with the translator, health and reflection services."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import signal
import sys
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from server.batcher import Batcher
from server.config import ServerConfig
from server.interceptor import ServiceInterceptor
from server.logs import setup_logging
from server.metrics import Metrics
from server.servicer import TranslatorServicer, engine_info
from translator._proto import translator_pb2 as pb
from translator._proto import translator_pb2_grpc as pb_grpc
from translator.errors import TranslatorError
from translator.inference import Translator

logger = logging.getLogger("server")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Translator"].full_name  # translator.v1.Translator
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
_APPS: weakref.WeakKeyDictionary[Any, TranslatorApp] = weakref.WeakKeyDictionary()


class TranslatorApp:
    """One server: the gRPC server, the model, the batcher, health and metrics, and their lifecycle.

    States: loading (health NOT_SERVING, calls UNAVAILABLE) -> serving (after
    the model loaded and a warm-up translation passed) -> draining: health
    NOT_SERVING again while calls are still accepted and served for
    `drain_delay_s` (load balancers stop routing here), then new calls get
    UNAVAILABLE and in-flight calls finish within the grace period -> stopped.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config.validate()
        self.metrics = Metrics()
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")
        self.servicer = TranslatorServicer(self.config, self.metrics)
        self.health = health.aio.HealthServicer()
        self.reason: str | None = "the server is starting: the model is loading"
        self.load_error: BaseException | None = None
        self.ready = asyncio.Event()
        self.loaded = asyncio.Event()  # set when loading ended, successfully or not
        self.port = 0
        self.metrics_port: int | None = None
        self._metrics_httpd: Any = None
        self._load_task: asyncio.Task[None] | None = None
        self._stopped = False
        interceptor = ServiceInterceptor(self.metrics, self.config.api_keys, lambda: self.reason)
        size = self.config.max_message_bytes
        self.server = grpc.aio.server(
            interceptors=[interceptor],
            options=[
                ("grpc.max_receive_message_length", size),
                ("grpc.max_send_message_length", size),
                ("grpc.so_reuseport", 0),
            ],
        )
        pb_grpc.add_TranslatorServicer_to_server(self.servicer, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        if self.config.reflection:
            names = (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME)
            reflection.enable_server_reflection(names, self.server)

    # -- startup -----------------------------------------------------------------
    def load_translator(self) -> Translator:
        """Load the bundle and translate one sentence (runs on the engine thread)."""
        c = self.config
        translator = Translator(
            c.model,
            engine=c.engine,
            device=c.device,
            variant=c.variant,
            threads=c.threads or None,
            max_input_tokens=c.max_tokens_per_text,
        )
        translator.translate([c.warmup_text], beam_size=1)
        if translator.speller is not None:
            translator.speller.load_word_list()
        return translator

    async def start(self) -> int:
        c = self.config
        address = f"{c.host}:{c.port}"
        try:
            if c.tls_cert and c.tls_key:
                creds = grpc.ssl_server_credentials([(Path(c.tls_key).read_bytes(), Path(c.tls_cert).read_bytes())])
                self.port = self.server.add_secure_port(address, creds)
            else:
                self.port = self.server.add_insecure_port(address)
        except (RuntimeError, OSError) as exc:
            raise TranslatorError(f"cannot listen on {address}: {exc}") from None
        if self.port == 0:
            raise TranslatorError(f"cannot listen on {address} (port in use?)")
        for name in ("", SERVICE_NAME):
            await self.health.set(name, NOT_SERVING)
        if c.metrics_port >= 0:
            try:
                self._metrics_httpd, self.metrics_port = self.metrics.serve_http(c.metrics_port, c.metrics_host)
            except OSError as exc:
                raise TranslatorError(f"cannot serve metrics on port {c.metrics_port}: {exc}") from None
        await self.server.start()
        logger.info("listening", extra={"port": self.port, "metrics_port": self.metrics_port, "tls": bool(c.tls_cert)})
        self._load_task = asyncio.get_running_loop().create_task(self._load(), name="load-model")
        return self.port

    async def _load(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        try:
            translator = await loop.run_in_executor(self.executor, self.load_translator)
        except Exception as exc:
            self.load_error = exc
            self.reason = f"the model failed to load: {exc}"
            logger.error("model failed to load", extra={"error": str(exc)})
            self.loaded.set()
            return
        c = self.config
        self.servicer.translator = translator
        self.servicer.batcher = Batcher(
            translator,
            self.executor,
            self.metrics,
            max_batch_tokens=c.max_batch_tokens,
            max_batch_size=c.max_batch_size,
            max_wait_ms=c.max_wait_ms,
            max_queue_items=c.max_queue_items,
            max_tokens_per_text=c.max_tokens_per_text,
        )
        self.servicer.batcher.start()
        if not self._stopped and self.reason is not None and self.reason.startswith("the server is starting"):
            self.reason = None
            for name in ("", SERVICE_NAME):
                await self.health.set(name, SERVING)
            self.metrics.ready.set(1)
            self.ready.set()
        engine, device, variant = engine_info(translator)
        logger.info(
            "model ready",
            extra={
                "model": str(translator.model_dir),
                "engine": engine,
                "device": device,
                "variant": variant,
                "load_seconds": round(time.perf_counter() - t0, 2),
            },
        )
        self.loaded.set()

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """True once serving; False if the model failed to load (or the timeout passed)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.loaded.wait(), timeout)
        return self.ready.is_set()

    # -- shutdown ------------------------------------------------------------------
    async def shutdown(self, grace: float | None = None) -> None:
        """Drain: health NOT_SERVING; for `drain_delay_s` keep serving new calls (load balancers
        stop routing to us meanwhile); then refuse new calls and let in-flight ones finish
        within `grace` seconds."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.config.grace_period_s if grace is None else grace
        self.metrics.ready.set(0)
        started = self._load_task is not None  # else start() failed: clean up without a drain
        if started:
            logger.info("draining", extra={"grace_seconds": grace, "drain_delay_seconds": self.config.drain_delay_s})
        await self.health.enter_graceful_shutdown()
        if started and self.config.drain_delay_s > 0 and self.ready.is_set():
            # NOT_SERVING but still serving: new calls are accepted until the delay has passed
            await asyncio.sleep(self.config.drain_delay_s)
        self.reason = "the server is draining (shutting down)"  # from here new calls get UNAVAILABLE
        await self.server.stop(grace)
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._load_task
        if self.servicer.batcher is not None:
            await self.servicer.batcher.stop()
        if self._metrics_httpd is not None:
            self._metrics_httpd.shutdown()
            self._metrics_httpd.server_close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        if started:
            logger.info("stopped")


async def create_app(config: ServerConfig) -> TranslatorApp:
    app = TranslatorApp(config)
    try:
        await app.start()
    except BaseException:
        await app.shutdown(0)
        raise
    _APPS[app.server] = app
    return app


async def create_server(config: ServerConfig) -> tuple[grpc.aio.Server, int]:
    """Build and start the server (call inside a running event loop); returns (server, bound port).

    The model loads in the background: health says NOT_SERVING and calls get
    UNAVAILABLE until it is loaded and warmed up. `get_app(server)` gives the
    `TranslatorApp` (readiness, metrics port, graceful `shutdown`).
    """
    app = await create_app(config)
    return app.server, app.port


def get_app(server: grpc.aio.Server) -> TranslatorApp:
    return _APPS[server]


async def serve(config: ServerConfig) -> int:
    """Run until SIGTERM/SIGINT, then drain within the grace period. 0 on a clean stop, 2 if the model fails."""
    app = await create_app(config)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stop_wait = asyncio.ensure_future(stop.wait())
    ready_wait = asyncio.ensure_future(app.wait_ready())
    await asyncio.wait([stop_wait, ready_wait], return_when=asyncio.FIRST_COMPLETED)
    if ready_wait.done() and not ready_wait.result():
        stop_wait.cancel()
        await app.shutdown(0)
        logger.error("exiting: %s", app.load_error)
        return 2
    await stop_wait
    ready_wait.cancel()
    await app.shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`translator serve ...` / `python -m server ...`."""
    try:
        config = ServerConfig.from_args(argv)
    except TranslatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_format, config.log_level)
    try:
        return asyncio.run(serve(config))
    except TranslatorError as exc:
        logger.error("error: %s", exc)
        return 2


def run_from_namespace(args: Any) -> int:
    """`translator serve`: flags parsed by the CLI with `server.config.build_parser()` as parent."""
    config = ServerConfig.from_namespace(args)
    setup_logging(config.log_format, config.log_level)
    return asyncio.run(serve(config))
