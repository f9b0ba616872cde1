"""Deployment files: the Dockerfile (parsed: multi-stage, non-root, gRPC health check) and
docker-compose.yml (`docker-compose config` when installed; skips cleanly otherwise)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    assert not pending, "dangling line continuation"
    return out


def stages(path: Path) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(path):
        if keyword == "FROM":
            result.append([])
        elif result:
            result[-1].append((keyword, rest))
    return result


def test_dockerfile_is_multistage_non_root_with_a_grpc_healthcheck() -> None:
    path = ROOT / "Dockerfile"
    ins = instructions(path)
    known = {"ARG", "FROM", "ENV", "RUN", "WORKDIR", "COPY", "USER", "EXPOSE", "STOPSIGNAL", "HEALTHCHECK",
             "ENTRYPOINT", "CMD", "LABEL"}  # fmt: skip
    assert {k for k, _ in ins} <= known
    froms = [rest for k, rest in ins if k == "FROM"]
    assert len(froms) >= 2 and all(" AS " in f.upper() for f in froms)
    final = stages(path)[-1]
    users = [rest for k, rest in final if k == "USER"]
    assert users, "the runtime stage must set USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert any(k == "COPY" and rest.startswith("--from=build") for k, rest in final)
    assert any(k == "COPY" and "models/default" in rest for k, rest in final), "the model bundle goes inside"
    [health] = [rest for k, rest in final if k == "HEALTHCHECK"]
    assert "server.health_probe" in health and "CMD" in health
    assert any(k == "EXPOSE" and "50051" in rest.split() for k, rest in final)
    [entry] = [rest for k, rest in final if k == "ENTRYPOINT"]
    assert "serve" in entry
    # RUN lines after USER would run as the non-root user; everything privileged happens before it
    user_at = max(i for i, (k, _) in enumerate(final) if k == "USER")
    assert not any(k == "RUN" for k, _ in final[user_at:])
    for _, rest in ins:
        shlex.split(rest)  # balanced quotes


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", "data", "runs", ".git", "models/*", "!models/default"):
        assert entry in lines


def check_compose(config: dict) -> None:
    services = config["services"]
    cpu = services["translator"]
    assert cpu["restart"] in ("unless-stopped", "always")
    assert "server.health_probe" in " ".join(cpu["healthcheck"]["test"])
    assert any("50051" in str(p) for p in cpu["ports"])
    assert cpu["deploy"]["resources"]["limits"]["memory"]
    gpu = services["translator-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["command"][-2:] == ["--device", "cuda"]
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    batch = services["batch"]
    assert batch["profiles"] == ["batch"] and "--server" in batch["command"]
    assert batch["depends_on"]["translator"]["condition"] == "service_healthy"
    # it writes into the ./batch bind mount: a user the caller can map to the directory's owner
    assert any(str(v).split(":")[0].endswith("batch") for v in batch["volumes"]) and "10001" in str(batch["user"])


def test_compose_file_parses() -> None:
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = raw["services"]
    for name in ("translator", "translator-gpu"):  # merge the x-translator anchor as compose does
        services[name] = {**raw["x-translator"], **services[name]}
    check_compose(raw)


def test_docker_compose_config_validates() -> None:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose)")
    out = subprocess.run([exe, "-f", str(ROOT / "docker-compose.yml"), "config"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    check_compose(yaml.safe_load(out.stdout))


def test_stopping_waits_for_the_drain_and_the_docs_say_how() -> None:
    """`docker stop` kills after 10 s unless told otherwise; the drain (delay + grace period) needs longer."""
    import re

    final = stages(ROOT / "Dockerfile")[-1]
    assert ("STOPSIGNAL", "SIGTERM") in final
    env = " ".join(rest for k, rest in final if k == "ENV")
    grace = float(re.search(r"TRANSLATOR_GRACE_PERIOD_S=(\d+)", env)[1])  # type: ignore[index]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["x-translator"]
    drain = float(compose["environment"].get("TRANSLATOR_DRAIN_DELAY_S", 0))
    assert float(compose["stop_grace_period"].removesuffix("s")) > grace + drain
    for doc in ("README.md", "server/README.md", "Dockerfile"):
        timeouts = [int(n) for n in re.findall(r"--stop-timeout (\d+)", (ROOT / doc).read_text())]
        assert timeouts and min(timeouts) > grace + drain, doc
    readme = (ROOT / "README.md").read_text()
    assert "mkdir -p batch" in readme and "batch/input.txt" in readme and "10001" in readme
