"""The gRPC service end to end: a real server on port 0 over the tiny bundle (reverses word order).

Servers run in-process on an event loop in a background thread; the tests are
sync gRPC clients. To make timing deterministic, `gated(app)` holds the engine
thread until the test releases it (a queued call then stays queued).

Empty texts: an empty or blank text gets an empty translation (as in the
library and the CLI), not INVALID_ARGUMENT; a request with no texts at all is
INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from server import ServerConfig, TranslatorApp, create_app
from translator._proto import translator_pb2 as pb
from translator._proto import translator_pb2_grpc as pb_grpc
from translator.config import TRANSLATION_RULES

pytestmark = pytest.mark.integration
T = TypeVar("T")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class LoopThread:
    """An asyncio loop in a daemon thread, for the servers under test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def config(model: Path, **overrides: Any) -> ServerConfig:
    base: dict[str, Any] = {
        "model": str(model),
        "host": "127.0.0.1",
        "port": 0,
        "metrics_port": 0,
        "metrics_host": "127.0.0.1",
        "threads": 1,
        "max_wait_ms": 2.0,
        "max_texts_per_request": 8,
        "max_chars_per_text": 200,
        "max_tokens_per_text": 20,
        "max_message_bytes": 64 * 1024,
        "max_beam_size": 8,
        "stream_max_in_flight": 2,
        "grace_period_s": 5.0,
        "warmup_text": "red dog",
    }
    base.update(overrides)
    return ServerConfig(**base)


class Running:
    def __init__(self, loop: LoopThread, app: TranslatorApp) -> None:
        self.loop, self.app = loop, app
        self.address = f"127.0.0.1:{app.port}"
        self.channel = grpc.insecure_channel(self.address)
        self.stub = pb_grpc.TranslatorStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def status(self, service: str = "") -> int:
        return self.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status

    def stop(self, grace: float = 0) -> None:
        self.channel.close()
        self.loop.run(self.app.shutdown(grace))


def start(loop: LoopThread, cfg: ServerConfig, wait: bool = True) -> Running:
    app = loop.run(create_app(cfg))
    if wait:
        assert loop.run(app.wait_ready(60), timeout=70), app.load_error
    return Running(loop, app)


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture(scope="module")
def local(tiny_bundle: Path) -> Any:
    """The library's own translations, to compare the server's with."""
    from translator.inference import Translator

    translator = Translator(tiny_bundle)
    return lambda texts, **kw: [r.text for r in translator.translate(texts, **kw)]


@pytest.fixture(scope="module")
def srv(loop: LoopThread, tiny_bundle: Path) -> Iterator[Running]:
    running = start(loop, config(tiny_bundle))
    yield running
    running.stop()


@contextlib.contextmanager
def gated(app: TranslatorApp) -> Iterator[threading.Event]:
    """Hold every engine batch until the returned event is set."""
    batcher = app.servicer.batcher
    assert batcher is not None
    gate, original = threading.Event(), batcher._translate

    def slow(texts: list[str], opts: dict[str, Any]) -> Any:
        gate.wait(20)
        return original(texts, opts)

    batcher._translate = slow  # type: ignore[method-assign]
    try:
        yield gate
    finally:
        gate.set()
        batcher._translate = original  # type: ignore[method-assign]


def batches(app: TranslatorApp) -> float:
    """Engine batches started so far."""
    return sum(b.get() for b in app.metrics.batch_size._buckets)  # type: ignore[attr-defined]


def wait_until(cond: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.01)


def rpc_error(call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """(key, cert) of a self-signed certificate for DNS name `name`: with the `cryptography`
    package if installed, else with `openssl`; skips the test with neither."""
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    try:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("a test certificate needs the cryptography package or openssl")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(cert), "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"],
                       check=True, capture_output=True)  # fmt: skip
        return key, cert
    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key, cert


# --- the rpcs -------------------------------------------------------------------------
def test_translate_matches_the_library(srv: Running, tiny_bundle: Path) -> None:
    from translator.inference import Translator

    texts = ["red dog runs", "", "the boy sits on a cat"]
    options = pb.TranslateOptions(beam_size=3, n_best=2, return_scores=True)
    response = srv.stub.Translate(pb.TranslateRequest(texts=texts, options=options), timeout=10)
    assert [t.text for t in response.translations] == ["runs dog red", "", "cat a on sits boy the"]
    local = Translator(tiny_bundle).translate(texts, beam_size=3, n_best=2)
    for remote, lib in zip(response.translations, local, strict=True):
        assert [h.text for h in remote.hypotheses] == [h.text for h in lib.hypotheses]
        assert remote.score == pytest.approx(lib.score, abs=1e-4)
        assert remote.hypotheses[0].log_prob == pytest.approx(lib.hypotheses[0].log_prob, abs=1e-4)
    assert len(response.translations[0].hypotheses) == 2
    assert response.translations[0].hypotheses[0].score >= response.translations[0].hypotheses[1].score
    short = srv.stub.Translate(
        pb.TranslateRequest(texts=["red dog runs"], options=pb.TranslateOptions(max_length=1)), timeout=10
    )
    assert short.translations[0].text == "runs"
    # without return_scores the scores stay 0
    plain = srv.stub.Translate(pb.TranslateRequest(texts=["big cat"]), timeout=10).translations[0]
    assert plain.text == "cat big" and plain.score == 0 and plain.hypotheses[0].log_prob == 0


def test_concurrent_calls_are_batched(srv: Running, local: Any) -> None:
    from helpers import reverse_task

    src, _ = reverse_task(12, seed=11)
    ref = local(src)
    app = srv.app
    size = app.metrics.batch_size
    texts0, batches0 = size._sum.get(), sum(b.get() for b in size._buckets)  # type: ignore[attr-defined]
    with gated(app) as gate:
        futures = [srv.stub.Translate.future(pb.TranslateRequest(texts=[s]), timeout=20) for s in src]
        # every text is either in the (held) engine batch or queued
        wait_until(lambda: size._sum.get() - texts0 + app.metrics.queue_depth._value.get() == len(src))  # type: ignore[attr-defined]
        gate.set()
        out = [f.result().translations[0].text for f in futures]
    assert out == ref
    assert size._sum.get() - texts0 == len(src)  # type: ignore[attr-defined]
    assert sum(b.get() for b in size._buckets) - batches0 <= 3  # type: ignore[attr-defined]


def test_model_info(srv: Running) -> None:
    info = srv.stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=5)
    assert (info.vocab_size, info.encoder_layers, info.decoder_layers, info.heads, info.d_model) == (48, 2, 2, 4, 64)
    assert info.engine == "torch" and info.device == "cpu" and info.max_input_tokens == 20
    assert isinstance(json.loads(info.training_json), dict)
    assert info.translation_rules == TRANSLATION_RULES


def test_stream_keeps_order_and_ids(srv: Running, local: Any) -> None:
    from helpers import reverse_task

    src, _ = reverse_task(20, seed=3)
    ref = local(src)
    items = [pb.TranslateStreamRequest(id=f"id-{n}", text=t) for n, t in enumerate(src)]
    items.insert(5, pb.TranslateStreamRequest(id="too-long", text="red " * 30))
    items.insert(9, pb.TranslateStreamRequest(id="bad-options", text="red", options=pb.TranslateOptions(n_best=9)))
    responses = list(srv.stub.TranslateStream(iter(items), timeout=20))
    assert [r.id for r in responses] == [i.id for i in items]
    by_id = {r.id: r for r in responses}
    assert by_id["too-long"].error.code_name == "RESOURCE_EXHAUSTED"
    assert "max_tokens_per_text=20" in by_id["too-long"].error.message
    assert by_id["bad-options"].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    good = [r for r in responses if not r.HasField("error")]
    assert [r.translation.text for r in good] == ref


def test_stream_flow_control_is_bounded(srv: Running) -> None:
    """With the engine held, the server reads only stream_max_in_flight (2) items ahead."""
    app = srv.app
    sent = [0]

    def requests() -> Iterator[pb.TranslateStreamRequest]:
        for n in range(40):
            sent[0] += 1
            yield pb.TranslateStreamRequest(id=str(n), text="red dog")

    with gated(app) as gate:
        call = srv.stub.TranslateStream(requests(), timeout=30)
        wait_until(lambda: app.metrics.in_flight._value.get() == 2)  # type: ignore[attr-defined]
        time.sleep(0.3)
        assert app.metrics.in_flight._value.get() == 2  # type: ignore[attr-defined]
        batcher = app.servicer.batcher
        assert batcher is not None and len(batcher._queue) <= 2
        gate.set()
        ids = [r.id for r in call]
    assert ids == [str(n) for n in range(40)] and sent[0] == 40
    wait_until(lambda: app.metrics.in_flight._value.get() == 0)  # type: ignore[attr-defined]


def test_align(srv: Running) -> None:
    pytest.importorskip("translator.align", reason="translator.align (alignment library) is not in this build yet")
    full = srv.stub.Align(
        pb.AlignRequest(source="red dog runs", target="runs dog red", attention=pb.ATTENTION_GRANULARITY_FULL),
        timeout=10,
    )
    assert full.source_words == ["red", "dog", "runs"] and full.target_words == ["runs", "dog", "red"]
    s, t = len(full.source_tokens), len(full.target_tokens)
    assert list(full.attention.shape) == [2, 4, t + 1, s + 1]
    assert len(full.attention.values) == 2 * 4 * (t + 1) * (s + 1)
    row = full.attention.values[: s + 1]  # softmax over the source: each row sums to 1
    assert sum(row) == pytest.approx(1.0, abs=1e-3)
    assert full.pharaoh == " ".join(f"{link.source}-{link.target}" for link in full.links)
    assert all(0 <= link.source < 3 and 0 <= link.target < 3 for link in full.links)

    mean = srv.stub.Align(
        pb.AlignRequest(source="red dog runs", target="runs dog red", attention=pb.ATTENTION_GRANULARITY_MEAN),
        timeout=10,
    )
    assert list(mean.attention.shape) == [1, 1, t + 1, s + 1] and mean.pharaoh == full.pharaoh
    import torch

    expected = torch.tensor(list(full.attention.values)).view(2, 4, t + 1, s + 1).mean(dim=(0, 1))
    assert torch.allclose(torch.tensor(list(mean.attention.values)).view(t + 1, s + 1), expected, atol=1e-5)

    # without a target: translate first, then align that translation
    auto = srv.stub.Align(pb.AlignRequest(source="red dog runs", attention=pb.ATTENTION_GRANULARITY_WORDS), timeout=10)
    assert auto.target == "runs dog red" and list(auto.attention.shape) == [1, 1, 3, 3]
    assert not auto.HasField("attention") or len(auto.attention.values) == 9

    err = rpc_error(srv.stub.Align, pb.AlignRequest(source="red dog", layer=7), timeout=10)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "layer" in err.details()
    err = rpc_error(srv.stub.Align, pb.AlignRequest(source=""), timeout=10)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = rpc_error(srv.stub.Align, pb.AlignRequest(source="\u200b\ufeff"), timeout=10)  # nothing the tokenizer keeps
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "the source is empty" in err.details()
    err = rpc_error(srv.stub.Align, pb.AlignRequest(source="red dog", target="red " * 21), timeout=10)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "the target is 21 tokens long" in err.details() and "max_tokens_per_text=20" in err.details()
    # a word that makes no pieces (zero-width space) does not shift the links of the others
    spaced = srv.stub.Align(pb.AlignRequest(source="red \u200b dog runs", target="runs dog red"), timeout=10)
    assert spaced.source_words == ["red", "\u200b", "dog", "runs"]
    assert {(link.source, link.target) for link in spaced.links} == {
        ({0: 0, 1: 2, 2: 3}[link.source], link.target) for link in full.links
    }

    with_links = srv.stub.Translate(
        pb.TranslateRequest(texts=["red dog runs"], options=pb.TranslateOptions(return_alignment=True)), timeout=10
    )
    hyp = with_links.translations[0].hypotheses[0]
    assert hyp.pharaoh == full.pharaoh and len(hyp.alignment) == len(full.links)


def test_align_options_are_checked_and_sent(srv: Running) -> None:
    # an unknown AttentionGranularity (proto3 enums are open) is an error, not "no attention"
    err = rpc_error(srv.stub.Align, pb.AlignRequest(source="red dog", attention=99), timeout=10)  # type: ignore[arg-type]
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "attention" in err.details() and "99" in err.details()
    assert (
        "ATTENTION_GRANULARITY_WORDS (4)" in err.details() and "ATTENTION_GRANULARITY_UNSPECIFIED (0)" in err.details()
    )

    from translator.client import TranslatorClient

    with TranslatorClient(srv.address, retries=0) as client:  # beam_size reaches the server
        err = rpc_error(client.align, "red dog", beam_size=99)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "beam_size" in err.details()
        pytest.importorskip("translator.align", reason="translator.align (alignment library) is not in this build")
        assert client.align("red dog runs", beam_size=1).target == "runs dog red"


# --- health, reflection, metrics ---------------------------------------------------------
def test_health_and_reflection(srv: Running) -> None:
    assert srv.status("") == SERVING and srv.status("translator.v1.Translator") == SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(srv.channel)
    [listing] = list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in listing.list_services_response.service}
    assert {"translator.v1.Translator", "grpc.health.v1.Health"} <= names
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="translator.v1.Translator")
    [found] = list(stub.ServerReflectionInfo(iter([request])))
    assert found.file_descriptor_response.file_descriptor_proto


def test_metrics_endpoint(srv: Running) -> None:
    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.app.metrics_port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def errors(text: str) -> float:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "translator_errors_total" and sample.labels == {
                    "code": "INVALID_ARGUMENT",
                    "method": "Translate",
                }:
                    return float(sample.value)
        return 0.0

    srv.stub.Translate(pb.TranslateRequest(texts=["red cat"]), timeout=10)
    before = errors(scrape())
    for i in range(1, 21):  # an error is counted by the time its client sees the status
        rpc_error(srv.stub.Translate, pb.TranslateRequest(), timeout=10)
        assert errors(scrape()) == before + i
    text = scrape()
    assert 'translator_requests_total{code="OK",method="Translate"}' in text
    names = ["translator_request_latency_seconds_bucket", "translator_batch_size_bucket", "translator_queue_depth"]
    names += ["translator_generated_tokens_total", "translator_tokens_per_second", "translator_ready 1.0"]
    for name in names:
        assert name in text, name


# --- bad inputs -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("request_", "code", "needle"),
    [
        (pb.TranslateRequest(), "INVALID_ARGUMENT", "no texts"),
        (pb.TranslateRequest(texts=["red"] * 9), "RESOURCE_EXHAUSTED", "max_texts_per_request=8"),
        (pb.TranslateRequest(texts=["ok", "x" * 201]), "RESOURCE_EXHAUSTED", "max_chars_per_text=200"),
        (pb.TranslateRequest(texts=["red " * 21]), "RESOURCE_EXHAUSTED", "max_tokens_per_text=20"),
        (pb.TranslateRequest(texts=["x" * 70_000]), "RESOURCE_EXHAUSTED", ""),  # over max_message_bytes
        (pb.TranslateRequest(texts=["red"], options=pb.TranslateOptions(beam_size=2, n_best=3)), "INVALID_ARGUMENT",
         "n_best"),
        (pb.TranslateRequest(texts=["red"], options=pb.TranslateOptions(beam_size=9)), "INVALID_ARGUMENT",
         "max_beam_size=8"),
        (pb.TranslateRequest(texts=["red"], options=pb.TranslateOptions(max_length=-1)), "INVALID_ARGUMENT", ">= 0"),
        (pb.TranslateRequest(texts=["red"], options=pb.TranslateOptions(length_penalty=-1)), "INVALID_ARGUMENT",
         "length_penalty"),
        (pb.TranslateRequest(texts=["red"], options=pb.TranslateOptions(length_penalty=float("nan"))),
         "INVALID_ARGUMENT", "length_penalty must be between 0 and 10"),
        (pb.TranslateRequest(texts=["red"], options=pb.TranslateOptions(length_penalty=1000)), "INVALID_ARGUMENT",
         "length_penalty"),
        (pb.TranslateRequest(texts=["red"], options=pb.TranslateOptions(max_length_ratio=float("inf"))),
         "INVALID_ARGUMENT", "max_length_ratio must be > 0 and <= 100"),
        (pb.TranslateRequest(texts=["red"], options=pb.TranslateOptions(max_length_ratio=float("nan"))),
         "INVALID_ARGUMENT", "max_length_ratio"),
    ],
)  # fmt: skip
def test_bad_requests(srv: Running, request_: pb.TranslateRequest, code: str, needle: str) -> None:
    err = rpc_error(srv.stub.Translate, request_, timeout=10)
    assert err.code().name == code and needle in err.details()


def test_bytes_that_are_not_a_request_are_invalid_argument(srv: Running) -> None:
    """Parsed by the interceptor, not inside gRPC (UNKNOWN, with a stack trace in the log)."""
    raw = {"request_serializer": bytes, "response_deserializer": bytes}
    translate = srv.channel.unary_unary("/translator.v1.Translator/Translate", **raw)
    bad_utf8 = b"\x0a\x04ab\xff\xfe"  # texts[0]: 4 bytes that are not UTF-8
    for body, needle in ((bad_utf8, "bad UTF-8"), (b"\xff\xff\xff", "corrupt")):
        err = rpc_error(translate, body, timeout=10)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "malformed Translate request" in err.details()
        assert needle in err.details()
    assert srv.stub.Translate(pb.TranslateRequest(texts=["red dog"]), timeout=10).translations[0].text == "dog red"
    stream = srv.channel.stream_stream("/translator.v1.Translator/TranslateStream", **raw)
    good = pb.TranslateStreamRequest(id="a", text="red dog").SerializeToString()
    answers = []
    with pytest.raises(grpc.RpcError) as info:
        for answer in stream(iter([good, b"\x12\x02\xff\xfe", good]), timeout=10):
            answers.append(pb.TranslateStreamResponse.FromString(answer))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "malformed TranslateStream" in info.value.details()
    assert [a.translation.text for a in answers] in ([], ["dog red"])  # the item before may have been answered
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.app.metrics_port}/metrics", timeout=5) as r:
        assert 'translator_requests_total{code="INVALID_ARGUMENT",method="TranslateStream"}' in r.read().decode()


def test_blank_text_gives_an_empty_translation(srv: Running) -> None:
    response = srv.stub.Translate(pb.TranslateRequest(texts=["", "   "]), timeout=10)
    assert [t.text for t in response.translations] == ["", ""]


# --- deadlines and cancellation --------------------------------------------------------
def test_expired_and_cancelled_calls_are_not_computed(srv: Running) -> None:
    app = srv.app
    batcher = app.servicer.batcher
    assert batcher is not None
    done_before, batches_before = batcher.computed_items, batches(app)
    metrics = app.metrics

    def counts() -> tuple[float, ...]:
        return tuple(
            m._value.get()  # type: ignore[attr-defined]
            for m in (
                metrics.dropped.labels("deadline"),
                metrics.dropped.labels("cancelled"),
                metrics.requests.labels("Translate", "DEADLINE_EXCEEDED"),
                metrics.requests.labels("Translate", "CANCELLED"),
            )
        )

    before = counts()
    with gated(app) as gate:
        busy = srv.stub.Translate.future(pb.TranslateRequest(texts=["red dog"]), timeout=20)
        wait_until(lambda: batches(app) == batches_before + 1)  # the busy call holds the engine
        expiring = srv.stub.Translate.future(pb.TranslateRequest(texts=["big cat", "a boy"]), timeout=1.0)
        cancelled = srv.stub.Translate.future(pb.TranslateRequest(texts=["the girl"]), timeout=20)
        wait_until(lambda: len(batcher._queue) == 3)
        cancelled.cancel()
        wait_until(lambda: app.metrics.queue_depth._value.get() <= 2)  # type: ignore[attr-defined]
        with pytest.raises(grpc.RpcError) as info:
            expiring.result()
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        wait_until(lambda: app.metrics.queue_depth._value.get() == 0)  # type: ignore[attr-defined]
        gate.set()
        assert busy.result().translations[0].text == "dog red"
    assert cancelled.cancelled()
    time.sleep(0.1)
    assert batcher.computed_items - done_before == 1  # only the busy call reached the engine
    # gRPC cancels the handler at the deadline too: the metrics still tell the two apart
    wait_until(lambda: counts()[2] - before[2] == 1 and counts()[3] - before[3] == 1)
    assert [a - b for a, b in zip(counts(), before, strict=True)] == [2, 1, 1, 1]
    assert srv.stub.Translate(pb.TranslateRequest(texts=["red cat"]), timeout=10).translations[0].text == "cat red"


# --- auth, TLS, lifecycle ------------------------------------------------------------------
def test_api_key_and_tls(loop: LoopThread, tiny_bundle: Path, tmp_path: Path) -> None:
    key, cert = self_signed(tmp_path, "localhost")
    running = start(loop, config(tiny_bundle, api_keys=("s3cret",), tls_cert=str(cert), tls_key=str(key)))
    try:
        from translator.client import TranslatorClient

        target = f"localhost:{running.app.port}"
        request = pb.TranslateRequest(texts=["red dog"])
        with TranslatorClient(target, root_certificates=cert, retries=0) as anonymous:
            err = rpc_error(anonymous.stub.Translate, request, timeout=5)
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED and "API key" in err.details()
            stream = anonymous.stub.TranslateStream(iter([pb.TranslateStreamRequest(id="a", text="red")]), timeout=5)
            err = rpc_error(lambda: list(stream))
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED and "API key" in err.details()
            anonymous.wait_ready(5)  # health needs no key
        with TranslatorClient(target, root_certificates=cert, api_key="wrong", retries=0) as wrong:
            assert rpc_error(wrong.model_info).code() == grpc.StatusCode.PERMISSION_DENIED
        with TranslatorClient(target, root_certificates=cert, api_key="s3cret") as client:
            assert client.translate_texts(["red dog"]) == ["dog red"]
            bearer = client.stub.Translate(request, timeout=5, metadata=(("authorization", "Bearer s3cret"),))
            assert bearer.translations[0].text == "dog red"
        with grpc.insecure_channel(target) as plain:  # a plaintext client cannot talk to the TLS port
            err = rpc_error(pb_grpc.TranslatorStub(plain).Translate, request, timeout=2)
            assert err.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        running.stop()


@pytest.fixture(scope="module")
def tls_srv(
    loop: LoopThread, tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Running, Path]]:
    """A server with TLS (a self-signed certificate for localhost) and API key s3cret; (server, certificate)."""
    key, cert = self_signed(tmp_path_factory.mktemp("tls"), "localhost")
    running = start(loop, config(tiny_bundle, api_keys=("s3cret",), tls_cert=str(cert), tls_key=str(key)))
    yield running, cert
    running.stop()


def test_cli_translate_and_loadtest_over_tls(
    tls_srv: tuple[Running, Path],
    tiny_bundle: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from translator.cli import main

    running, cert_path = tls_srv
    cert, target = str(cert_path), f"localhost:{running.app.port}"
    sentences = tmp_path / "in.txt"
    sentences.write_text("red dog\nthe big cat\n")
    monkeypatch.delenv("TRANSLATOR_API_KEY", raising=False)
    monkeypatch.delenv("TRANSLATOR_TLS_CA", raising=False)
    assert main(["translate", "--server", target, "--tls-ca", cert, "--api-key", "s3cret", "red dog"]) == 0
    assert capsys.readouterr().out == "dog red\n"
    assert main(["translate", "--server", target, "--tls-ca", cert + ".missing", "red"]) == 2
    assert "cannot read the TLS root certificates" in capsys.readouterr().err

    # loadtest without a key: every call fails -> exit 1, the reason, no made-up latencies
    argv = ["loadtest", "--server", target, "--clients", "1", "--seconds", "0.5", "--beam", "1",
            "--input", str(sentences)]  # fmt: skip
    assert main([*argv, "--tls-ca", cert]) == 1
    out, err = capsys.readouterr()
    report = json.loads(out.strip().splitlines()[-1])
    assert report["ok"] == 0 and set(report["errors"]) == {"UNAUTHENTICATED"}
    assert set(report["latency_ms"].values()) == {None} and "n/a" in out and "| latency p50 (ms)" in out
    assert "error: no request to" in err and "UNAUTHENTICATED" in err and "API key" in err

    # the key and the CA from the environment, as for translate --server
    monkeypatch.setenv("TRANSLATOR_API_KEY", "s3cret")
    monkeypatch.setenv("TRANSLATOR_TLS_CA", cert)
    assert main(["translate", "--server", target, "big cat"]) == 0
    assert capsys.readouterr().out == "cat big\n"
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["ok"] > 0 and report["errors"] == {} and report["latency_ms"]["p50"] > 0

    # a batch job through the TLS server writes what a local job writes
    job = ["translate", "--model", str(tiny_bundle), "-i", str(sentences), "--quiet", "-o"]
    assert main([*job, str(tmp_path / "local.txt")]) == 0
    assert main([*job, str(tmp_path / "remote.txt"), "--server", target]) == 0
    assert (tmp_path / "remote.txt").read_text() == (tmp_path / "local.txt").read_text() != ""


def test_health_probe_follows_the_server_tls_settings(
    loop: LoopThread, tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The image's HEALTHCHECK (`python -m server.health_probe --timeout 3`, no TLS flags) works when
    TLS is enabled with TRANSLATOR_TLS_CERT, here a self-signed certificate for another name than
    the localhost the probe dials (TRANSLATOR_HEALTH_SERVER_NAME)."""
    from server.health_probe import main as probe_main

    name = "translator.internal"
    key, cert = self_signed(tmp_path, name)
    _, other = self_signed(tmp_path, "other.internal")
    running = start(loop, config(tiny_bundle, tls_cert=str(cert), tls_key=str(key)))
    try:
        env = {**os.environ, "TRANSLATOR_PORT": str(running.app.port), "TRANSLATOR_TLS_CERT": str(cert),
               "TRANSLATOR_TLS_KEY": str(key), "TRANSLATOR_HEALTH_SERVER_NAME": name}  # fmt: skip
        env.pop("TRANSLATOR_HEALTH_CA", None)
        cmd = [sys.executable, "-m", "server.health_probe", "--timeout", "3"]  # the Dockerfile's HEALTHCHECK
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30, cwd=Path(__file__).parents[2])
        assert (done.returncode, done.stdout.strip()) == (0, "SERVING"), done.stderr

        for var in ("TRANSLATOR_HEALTH_CA", "TRANSLATOR_HEALTH_SERVER_NAME"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("TRANSLATOR_PORT", str(running.app.port))
        monkeypatch.setenv("TRANSLATOR_TLS_CERT", str(cert))
        assert probe_main(["--server-name", name]) == 0
        assert probe_main([]) == 1  # the certificate is not for "localhost"
        assert probe_main(["--no-tls", "--server-name", name]) == 1  # plaintext against the TLS port
        monkeypatch.setenv("TRANSLATOR_HEALTH_SERVER_NAME", name)
        assert probe_main([]) == 0
        monkeypatch.setenv("TRANSLATOR_HEALTH_CA", str(other))  # trusted instead of the certificate itself
        assert probe_main([]) == 1
        monkeypatch.setenv("TRANSLATOR_HEALTH_CA", str(cert))
        assert probe_main([]) == 0
        out = capsys.readouterr().out.split()
        assert out[:2] == ["SERVING", "UNAVAILABLE"] and out[-1] == "SERVING"
    finally:
        running.stop()


def test_health_transitions_and_graceful_shutdown(loop: LoopThread, tiny_bundle: Path) -> None:
    load_gate = threading.Event()

    async def make() -> TranslatorApp:  # grpc.aio objects belong to the loop that creates them
        return TranslatorApp(config(tiny_bundle))

    app = loop.run(make())
    real_load = app.load_translator

    def slow_load() -> Any:
        load_gate.wait(20)
        return real_load()

    app.load_translator = slow_load  # type: ignore[method-assign]
    loop.run(app.start())
    running = Running(loop, app)
    try:
        assert running.status() == NOT_SERVING and running.status("translator.v1.Translator") == NOT_SERVING
        err = rpc_error(running.stub.Translate, pb.TranslateRequest(texts=["red"]), timeout=5)
        assert err.code() == grpc.StatusCode.UNAVAILABLE and "loading" in err.details()
        from translator.client import TranslatorClient

        retried: list[list[str]] = []
        with TranslatorClient(running.address, retries=100, backoff=0.05, max_backoff=0.1) as client:
            waiting = threading.Thread(target=lambda: retried.append(client.translate_texts(["red dog"])))
            waiting.start()  # the client retries UNAVAILABLE until the model is ready
            time.sleep(0.3)
            load_gate.set()
            waiting.join(30)
        assert retried == [["dog red"]]
        assert running.status() == SERVING

        with gated(app) as gate:
            before = batches(app)
            in_flight = running.stub.Translate.future(pb.TranslateRequest(texts=["red dog", "big cat"]), timeout=20)
            wait_until(lambda: batches(app) > before)  # held in the engine
            stopping = loop.submit(app.shutdown(5))
            wait_until(lambda: app.reason is not None)  # no drain delay: new calls are refused at once
            late = rpc_error(running.stub.Translate, pb.TranslateRequest(texts=["red"]), timeout=5)
            assert late.code() == grpc.StatusCode.UNAVAILABLE
            assert not in_flight.done()
            gate.set()
            assert [t.text for t in in_flight.result().translations] == ["dog red", "cat big"]
        stopping.result(10)
    finally:
        load_gate.set()
        running.channel.close()
        loop.run(app.shutdown(0))


def test_drain_delay_keeps_serving_new_calls(loop: LoopThread, tiny_bundle: Path) -> None:
    """SIGTERM (here `shutdown()`, which the signal handler calls): health NOT_SERVING at once, but calls
    are still accepted and served during drain_delay_s, so load balancers can stop routing without
    failing anyone; only after the delay are new calls refused, and in-flight ones still finish."""
    delay = 1.0
    running = start(loop, config(tiny_bundle, drain_delay_s=delay))
    app = running.app
    request = pb.TranslateRequest(texts=["red dog"])
    try:
        with gated(app) as gate:
            before = batches(app)
            in_flight = running.stub.Translate.future(pb.TranslateRequest(texts=["big cat"]), timeout=20)
            wait_until(lambda: batches(app) > before)  # held in the engine
            t0 = time.monotonic()
            stopping = loop.submit(app.shutdown(5))
            wait_until(lambda: running.status() == NOT_SERVING)
            time.sleep(max(0.0, t0 + 0.3 - time.monotonic()))
            during = running.stub.Translate.future(request, timeout=20)  # 0.3 s into the delay: accepted
            assert running.status() == NOT_SERVING and running.status("translator.v1.Translator") == NOT_SERVING
            gate.set()
            assert during.result(10).translations[0].text == "dog red"
            assert time.monotonic() - t0 < delay, "the call was served inside the drain delay"
            # still inside the delay: new calls are served (health stays NOT_SERVING)
            assert running.stub.Translate(request, timeout=5).translations[0].text == "dog red"
            assert app.reason is None and not stopping.done()
        wait_until(lambda: app.reason is not None, timeout=delay + 2)  # the delay passed: new calls refused
        assert time.monotonic() - t0 >= delay - 0.05
        late = rpc_error(running.stub.Translate, request, timeout=5)
        # refused: UNAVAILABLE while the server drains; the in-flight call may already have finished
        # (the gate is open), and a server that has begun to stop cancels a call that arrives then
        assert late.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        assert in_flight.result(10).translations[0].text == "cat big"
        stopping.result(10)  # a clean stop
    finally:
        running.channel.close()
        loop.run(app.shutdown(0))


def test_cli_translate_with_server_prints_the_local_output(
    srv: Running, tiny_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from translator.cli import main

    texts = ["red dog runs", "", "the boy sits"]
    assert main(["translate", "--model", str(tiny_bundle), "--beam", "2", *texts]) == 0
    local = capsys.readouterr().out
    assert main(["translate", "--server", srv.address, "--beam", "2", *texts]) == 0
    assert capsys.readouterr().out == local == "runs dog red\n\nsits boy the\n"
    json_n_best = ["--json", "--beam", "3", "--n-best", "2", *texts]
    assert main(["translate", "--model", str(tiny_bundle), *json_n_best]) == 0
    local = capsys.readouterr().out
    assert main(["translate", "--server", srv.address, *json_n_best]) == 0
    assert capsys.readouterr().out == local and local.count('"log_prob"') == 2 + 1 + 2
    assert main(["translate", "--server", srv.address, "red " * 21]) == 2
    assert "RESOURCE_EXHAUSTED" in capsys.readouterr().err
    # --model with --server names the served bundle, or is refused: it is not silently ignored
    assert main(["translate", "--server", srv.address, "--model", str(tiny_bundle), "--beam", "2", *texts]) == 0
    assert capsys.readouterr().out == "runs dog red\n\nsits boy the\n"
    assert main(["translate", "--server", srv.address, "--model", "models/default", "red dog runs"]) == 2
    err = capsys.readouterr().err
    assert "serves model" in err and "pass --model with the server's bundle" in err


def test_cli_translate_errors_name_the_same_text_locally_and_remotely(
    srv: Running, tiny_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The client sends --batch-size texts per request; an error names the text's index in the whole
    input (as local mode does), not in its request."""
    from translator.cli import main

    texts = ["red dog"] * 5 + ["red " * 21, "big cat"]  # text 5 is too long; with --batch-size 2 it is text 1 of 3
    assert main(["translate", "--model", str(tiny_bundle), "--max-input-tokens", "20", "--batch-size", "2",
                 *texts]) == 2  # fmt: skip
    local = capsys.readouterr().err
    assert main(["translate", "--server", srv.address, "--batch-size", "2", *texts]) == 2
    remote = capsys.readouterr().err
    assert "text 5 is 21 tokens long" in local
    assert "text 5 is 21 tokens long" in remote and "max_tokens_per_text=20" in remote


def test_loadtest_report(srv: Running) -> None:
    from server.loadtest import format_table, run_loadtest

    report = run_loadtest(srv.address, clients=2, seconds=1.0, texts=["red dog", "the big cat"], beam=1)
    assert report["ok"] > 0 and report["errors"] == {} and report["requests_per_second"] > 0
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert "latency p95 (ms)" in format_table(report)


def test_serve_subprocess_exits_0_on_sigterm(tiny_bundle: Path) -> None:
    env = {**os.environ, "TRANSLATOR_THREADS": "1", "TRANSLATOR_WARMUP_TEXT": "red dog"}
    cmd = [sys.executable, "-m", "translator.cli", "serve", "--model", str(tiny_bundle), "--host", "127.0.0.1",
           "--port", "0", "--metrics-port", "-1", "--grace-period-s", "5"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        port, lines = None, []
        for line in proc.stderr:
            lines.append(line)
            entry = json.loads(line) if line.startswith("{") else {"msg": ""}
            port = entry.get("port", port)
            if entry["msg"] == "model ready":
                break
        assert port, "".join(lines)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = pb_grpc.TranslatorStub(channel).Translate(pb.TranslateRequest(texts=["red dog"]), timeout=10)
            assert reply.translations[0].text == "dog red"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        rest = [json.loads(line)["msg"] for line in proc.stderr if line.startswith("{")]
        assert "draining" in rest and "stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
