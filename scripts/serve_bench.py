"""The served path under load, against offline translation in the same run.

Starts `translator serve` on the shipped bundle, runs `translator loadtest` with 1, 8
and 64 concurrent clients (single-sentence `Translate` calls, test_2016_flickr
sentences, beam 5) for T seconds each, records the server's RSS before and after,
then stops the server (SIGTERM, exit code checked). The same sentences are
translated offline with the same engine, variant, beam and threads before the
server starts and after it stops; "x offline" is against the mean of the two.
The CPU time of the server and of the load generator is reported per text.
Prints a Markdown table and writes JSON + Markdown.

    python scripts/serve_bench.py --seconds 60 --out reports/serve_bench
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from server.health_probe import probe
from server.loadtest import run_loadtest
from translator.inference import Translator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--data", default="data/multi30k")
    ap.add_argument("--clients", default="1,8,64,64", help="a run per entry (64 twice: is RSS flat once warm?)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--offline-sentences", type=int, default=1000)
    ap.add_argument("--out", help="write OUT.json and OUT.md")
    args = ap.parse_args()

    with gzip.open(Path(args.data) / "test_2016_flickr.en.gz", "rt", encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f]
    tr = Translator(args.model, threads=args.threads)
    offline = texts[: args.offline_sentences]
    tr.translate(offline[:32], beam_size=args.beam, max_batch_size=32)  # warm-up, as the server's before SERVING
    before_server = offline_run(tr, offline, args.beam)
    port, metrics = free_port(), free_port()
    cmd = [sys.executable, "-m", "translator.cli", "serve", "--model", args.model, "--port", str(port),
           "--metrics-port", str(metrics), "--threads", str(args.threads), "--log-format", "text"]  # fmt: skip
    log = tempfile.NamedTemporaryFile("w+", prefix="serve-bench-", suffix=".log")  # noqa: SIM115
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True)
    address = f"localhost:{port}"
    runs: list[dict[str, Any]] = []
    try:
        deadline = time.time() + 120
        while probe(address, timeout=1.0) != "SERVING":
            if server.poll() is not None or time.time() > deadline:
                log.seek(0)
                raise SystemExit(f"server did not become SERVING:\n{log.read()[-3000:]}")
            time.sleep(0.5)
        rss_start = rss_mb(server.pid)
        for clients in (int(c) for c in args.clients.split(",")):
            before = rss_mb(server.pid)
            cpu_client, cpu_server = time.process_time(), cpu_seconds(server.pid)
            report = run_loadtest(address, clients, args.seconds, texts=texts, beam=args.beam)
            report["server_rss_mb_before"] = before
            report["server_rss_mb_after"] = rss_mb(server.pid)
            report["cpu_s"] = {"client": round(time.process_time() - cpu_client, 2),
                               "server": round(cpu_seconds(server.pid) - cpu_server, 2)}  # fmt: skip
            runs.append(report)
            print(json.dumps(report), file=sys.stderr)
        rss_end = rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        exit_code = server.wait(timeout=60)
    after = offline_run(tr, offline, args.beam)
    # the machine's speed drifts over minutes: the offline rate is the mean of a run before the
    # server started and one after it stopped (both reported)
    offline_rate = (before_server[0] + after[0]) / 2
    offline_cpu_ms = (before_server[1] + after[1]) / 2

    command = "python scripts/serve_bench.py " + shlex.join(sys.argv[1:])
    engine = getattr(tr.engine, "name", "?"), getattr(tr.engine, "variant", "")
    md = ["# Served throughput and latency", "", f"`{command}`", ""]
    md += [
        f"Model `{args.model}`, engine {engine[0]} {engine[1]}, beam {args.beam}, {args.threads} threads; "
        "single-sentence `Translate` calls over loopback; the load generator runs on the same 2 cores.",
        "",
    ]
    md += ["| clients | seconds | requests | errors | sent/s | × offline | p50 ms | p95 ms | p99 ms "
           "| RSS MB before → after | CPU ms/text server | CPU ms/text load generator |"]  # fmt: skip
    md += ["|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lat = r["latency_ms"]
        md.append(
            f"| {r['clients']} | {r['seconds']} | {r['requests']} | {sum(r['errors'].values())} "
            f"| {r['texts_per_second']:.1f} | {r['texts_per_second'] / offline_rate:.2f} "
            f"| {lat['p50']} | {lat['p95']} | {lat['p99']} | {r['server_rss_mb_before']} → {r['server_rss_mb_after']} "
            f"| {per_text(r, 'server')} | {per_text(r, 'client')} |"
        )
    md += [
        "",
        f"Offline (`Translator.translate`, batches of 32, same engine/beam/threads, {len(offline)} sentences, "
        f"the mean of a run before the server started and one after it stopped): {offline_rate:.1f} sent/s "
        f"({before_server[0]:.1f} and {after[0]:.1f}), {offline_cpu_ms:.2f} CPU ms per text.",
        "",
        "CPU ms/text: CPU time (user + system, all threads) of the server process and of the load generator "
        "(this process) during the run, per text answered; both share the 2 cores.",
        "",
        f"Server RSS: {rss_start} MB after warm-up, {rss_end} MB at the end. SIGTERM exit code: {exit_code}.",
    ]
    text = "\n".join(md) + "\n"
    print(text)
    if args.out:
        result = {"command": command, "runs": runs, "offline_sentences_per_second": round(offline_rate, 2),
                  "offline_cpu_ms_per_text": round(offline_cpu_ms, 3),
                  "offline_runs_sentences_per_second": [round(before_server[0], 2), round(after[0], 2)],
                  "server_rss_mb": {"start": rss_start, "end": rss_end}, "sigterm_exit_code": exit_code}  # fmt: skip
        Path(args.out + ".json").write_text(json.dumps(result, indent=2) + "\n")
        Path(args.out + ".md").write_text(text)
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid`, all threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def offline_run(tr: Translator, texts: list[str], beam: int) -> tuple[float, float]:
    """Sentences/s and CPU ms per sentence (this process) of `Translator.translate` in batches of 32."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    tr.translate(texts, beam_size=beam, max_batch_size=32)
    return len(texts) / (time.perf_counter() - t0), 1000 * (time.process_time() - cpu0) / len(texts)


def per_text(run: dict[str, Any], who: str) -> str:
    return f"{1000 * run['cpu_s'][who] / max(run['requests'], 1):.2f}"


if __name__ == "__main__":
    sys.exit(main())
