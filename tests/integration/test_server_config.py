"""ServerConfig from flags and TRANSLATOR_* variables, and the library/server import boundary."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from server.config import ServerConfig
from translator.errors import TranslatorError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_env_then_flags() -> None:
    env = {"TRANSLATOR_PORT": "6000", "TRANSLATOR_MAX_WAIT_MS": "2.5", "TRANSLATOR_API_KEYS": "a, b",
           "TRANSLATOR_REFLECTION": "false", "TRANSLATOR_MODEL": "/m", "UNRELATED": "x"}  # fmt: skip
    cfg = ServerConfig.from_env(env)
    assert (cfg.port, cfg.max_wait_ms, cfg.api_keys, cfg.reflection, cfg.model) == (6000, 2.5, ("a", "b"), False, "/m")
    assert cfg.metrics_port == 9090  # default kept
    cfg = ServerConfig.from_args(["--port", "7000", "--no-reflection", "--api-keys", "k"], env)
    assert (cfg.port, cfg.reflection, cfg.api_keys, cfg.max_wait_ms) == (7000, False, ("k",), 2.5)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"TRANSLATOR_PORT": "http"}, "TRANSLATOR_PORT='http'"),
        ({"TRANSLATOR_MAX_BATCH_SIZE": "0"}, "max_batch_size must be >= 1"),
        ({"TRANSLATOR_PORT": "99999"}, "port must be 0 (a free port) to 65535, got 99999"),
        ({"TRANSLATOR_METRICS_PORT": "-2"}, "metrics_port must be -1 (off), 0 (a free port) to 65535, got -2"),
        ({"TRANSLATOR_PORT": "8000", "TRANSLATOR_METRICS_PORT": "8000"}, "port and metrics_port are both 8000"),
        ({"TRANSLATOR_MAX_BEAM_SIZE": "129"}, "max_beam_size must be <= 128"),
        ({"TRANSLATOR_TLS_CERT": "c.pem"}, "both tls_cert and tls_key"),
        ({"TRANSLATOR_REFLECTION": "maybe"}, "TRANSLATOR_REFLECTION"),
        (
            {"TRANSLATOR_MAX_QUEUE_ITEMS": "4", "TRANSLATOR_MAX_TEXTS_PER_REQUEST": "8"},
            "max_queue_items (4) must be >= max_texts_per_request (8)",
        ),
    ],
)
def test_bad_settings_name_the_setting(env: dict[str, str], needle: str) -> None:
    with pytest.raises(TranslatorError, match=re.escape(needle)):
        ServerConfig.from_env(env)


def test_the_library_does_not_import_the_server() -> None:
    """Only the CLI entry points (serve, loadtest) reach into `server`, lazily."""
    for path in sorted((ROOT / "translator").rglob("*.py")):
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n == "server" or n.startswith("server.") for n in names), path


def test_serve_exits_2_when_the_model_cannot_load_or_the_port_is_taken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio
    import socket

    from server.app import serve

    cfg = ServerConfig(model=str(tmp_path / "none"), host="127.0.0.1", port=0, metrics_port=-1)
    assert asyncio.run(serve(cfg)) == 2
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = ServerConfig(model=str(tmp_path), host="127.0.0.1", port=sock.getsockname()[1], metrics_port=-1)
        caplog.clear()
        with (
            caplog.at_level("INFO", logger="server"),
            pytest.raises(TranslatorError, match=r"cannot listen on 127\.0\.0\.1"),
        ):
            asyncio.run(serve(taken))
    # a server that never started does not claim to drain or stop
    assert not [r.message for r in caplog.records if r.message in ("draining", "stopped")]


def test_a_queue_smaller_than_a_request_is_refused_at_startup(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Otherwise every full-size request would get "queue is full (0 texts queued)"."""
    from server.app import main as server_main
    from translator.cli import main

    assert ServerConfig(max_queue_items=8, max_texts_per_request=8).validate().max_queue_items == 8
    for run in (main, lambda argv: server_main(argv[1:])):
        assert run(["serve", "--model", str(tmp_path), "--max-queue-items", "10", "--max-texts-per-request", "64"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "max_queue_items (10) must be >= max_texts_per_request (64)" in err
