"""Prometheus metrics of one server (own registry, so several servers can live in one process)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "translator_requests", "Finished RPCs by method and status code", ["method", "code"], registry=r
        )
        self.errors = Counter(
            "translator_errors", "Failed RPCs by method and status code", ["method", "code"], registry=r
        )
        self.latency = Histogram(
            "translator_request_latency_seconds", "RPC latency", ["method"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.queue_wait = Histogram(
            "translator_queue_wait_seconds",
            "Time a text waited in the batcher queue",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "translator_batch_size", "Texts per engine batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_tokens = Histogram(
            "translator_batch_source_tokens",
            "Source tokens per engine batch",
            buckets=(8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192),
            registry=r,
        )
        self.batch_latency = Histogram(
            "translator_batch_seconds", "Engine time per batch", buckets=LATENCY_BUCKETS, registry=r
        )
        self.queue_depth = Gauge("translator_queue_depth", "Texts waiting in the batcher queue", registry=r)
        self.in_flight = Gauge("translator_stream_items_in_flight", "TranslateStream items being processed", registry=r)
        self.tokens = Counter(
            "translator_generated_tokens", "Target tokens generated (rate() gives tokens/s)", registry=r
        )
        self.tokens_per_second = Gauge(
            "translator_tokens_per_second", "Target tokens/s of the last engine batch", registry=r
        )
        self.dropped = Counter(
            "translator_dropped_items", "Queued texts dropped before computing", ["reason"], registry=r
        )
        self.ready = Gauge("translator_ready", "1 when the model is loaded and warmed up and not draining", registry=r)

    def serve_http(self, port: int, host: str = "0.0.0.0") -> tuple[Any, int]:
        """Start the /metrics HTTP server in a thread; returns (server, bound port)."""
        httpd, _thread = start_http_server(port, addr=host, registry=self.registry)
        return httpd, int(httpd.server_port)
