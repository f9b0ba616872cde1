"""`translator loadtest`: N concurrent clients against a running server, then a latency/throughput report.

Each client is a thread with its own channel that sends `Translate` requests
back to back for `--seconds` (bounded also by `--max-requests` in total). The
report has throughput (requests/s and texts/s), latency percentiles and the
errors by status code, as a table and as one JSON line (also written to
`--json FILE`). Only point it at servers you run (e.g. localhost).

`--api-key` defaults to $TRANSLATOR_API_KEY, `--tls-ca` to $TRANSLATOR_TLS_CA (as
`translator translate --server`). The exit code is 1, with the reason on stderr,
when no request succeeded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from translator.errors import TranslatorError

SENTENCES = [
    "A dog runs on the beach.",
    "Two young men are playing football in a park.",
    "A little girl is climbing into a wooden playhouse.",
    "A man in a blue shirt is standing on a ladder.",
    "Several people are waiting at a bus stop.",
    "A woman is reading a book under a tree.",
    "Children are swimming in a pool.",
    "A black cat sits on a red chair.",
]


def build_parser() -> argparse.ArgumentParser:
    from translator.cli import add_tls_args

    p = argparse.ArgumentParser(prog="translator loadtest", description=__doc__.splitlines()[0])
    p.add_argument("--server", default="localhost:50051", help="HOST:PORT of a running server")
    p.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    p.add_argument("--seconds", type=float, default=10.0, help="duration (default 10)")
    p.add_argument("--texts-per-request", type=int, default=1, help="texts per Translate call (default 1)")
    p.add_argument("--beam", type=int, default=5, help="beam size (default 5)")
    p.add_argument("--input", help="sentences to send, one per line (default: a few built-in ones)")
    p.add_argument("--timeout", type=float, default=30.0, help="deadline of each call in seconds (default 30)")
    p.add_argument("--max-requests", type=int, default=1_000_000, help="stop after this many requests in total")
    p.add_argument("--api-key", default=os.environ.get("TRANSLATOR_API_KEY"),
                   help="sent as x-api-key metadata (env TRANSLATOR_API_KEY)")  # fmt: skip
    add_tls_args(p)
    p.add_argument("--json", dest="json_out", help="also write the JSON report here")
    return p


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def run_loadtest(
    server: str,
    clients: int,
    seconds: float,
    *,
    texts: list[str] | None = None,
    texts_per_request: int = 1,
    beam: int = 5,
    timeout: float = 30.0,
    max_requests: int = 1_000_000,
    api_key: str | None = None,
    tls: bool = False,
    root_certificates: bytes | str | Path | None = None,
) -> dict[str, Any]:
    """Run the load and return the report as a dict (TLS as in `TranslatorClient`).

    Latencies are over the successful calls; with none, they are None.
    `error_details` has the first message of each error code.
    """
    import grpc

    from translator._proto import translator_pb2 as pb
    from translator.client import TranslatorClient

    texts = texts or SENTENCES
    if isinstance(root_certificates, str | Path):  # read once, not by every client thread
        path = Path(root_certificates)
        try:
            root_certificates = path.read_bytes()
        except OSError as exc:
            raise TranslatorError(f"cannot read the TLS root certificates {path}: {exc.strerror}") from None
    lock = threading.Lock()
    latencies: list[float] = []
    codes: Counter[str] = Counter()
    details: dict[str, str] = {}
    sent = [0]
    start = time.perf_counter()
    end = start + seconds

    def client(n: int) -> None:
        # retries=0: every UNAVAILABLE is counted, not hidden by the client's backoff
        with TranslatorClient(server, api_key=api_key, tls=tls, root_certificates=root_certificates,
                              retries=0) as remote:  # fmt: skip
            stub, metadata = remote.stub, remote.metadata
            i = n
            while time.perf_counter() < end:
                with lock:
                    if sent[0] >= max_requests:
                        return
                    sent[0] += 1
                batch = [texts[(i + k) % len(texts)] for k in range(texts_per_request)]
                i += texts_per_request
                request = pb.TranslateRequest(texts=batch, options=pb.TranslateOptions(beam_size=beam))
                t0 = time.perf_counter()
                try:
                    stub.Translate(request, timeout=timeout, metadata=metadata)
                    code = "OK"
                except grpc.RpcError as exc:
                    code = exc.code().name
                    with lock:
                        details.setdefault(code, exc.details() or "")
                    if code == "UNAVAILABLE":
                        time.sleep(0.05)  # do not spin on a server that is down
                with lock:
                    if code == "OK":  # latency percentiles are over successful calls
                        latencies.append(time.perf_counter() - t0)
                    codes[code] += 1

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + timeout + 5)
    elapsed = time.perf_counter() - start
    ok = sorted(latencies)
    total = sum(codes.values())
    return {
        "server": server,
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": total,
        "ok": codes.get("OK", 0),
        "errors": {k: v for k, v in sorted(codes.items()) if k != "OK"},
        "requests_per_second": round(total / elapsed, 2) if elapsed else 0.0,
        "texts_per_second": round(codes.get("OK", 0) * texts_per_request / elapsed, 2) if elapsed else 0.0,
        "latency_ms": {
            "p50": round(percentile(ok, 50) * 1000, 2) if ok else None,
            "p95": round(percentile(ok, 95) * 1000, 2) if ok else None,
            "p99": round(percentile(ok, 99) * 1000, 2) if ok else None,
            "max": round(ok[-1] * 1000, 2) if ok else None,
        },
        "error_details": {k: details[k] for k in sorted(details)},
        "texts_per_request": texts_per_request,
        "beam": beam,
    }


def format_table(report: dict[str, Any]) -> str:
    lat = report["latency_ms"]
    errors = ", ".join(f"{k}={v}" for k, v in report["errors"].items()) or "none"
    rows = [
        ("server", report["server"]),
        ("clients", report["clients"]),
        ("duration (s)", report["seconds"]),
        ("requests", report["requests"]),
        ("ok", report["ok"]),
        ("errors by code", errors),
        ("throughput (req/s)", report["requests_per_second"]),
        ("throughput (texts/s)", report["texts_per_second"]),
        *((f"latency {q} (ms)", "n/a (no successful call)" if lat[q] is None else lat[q]) for q in lat),
    ]
    width = max(len(k) for k, _ in rows)
    line = "+" + "-" * (width + 2) + "+" + "-" * 24 + "+"
    body = [f"| {k:<{width}} | {v!s:>22} |" for k, v in rows]
    return "\n".join([line, *body, line])


def run(args: argparse.Namespace) -> int:
    texts = None
    if args.input:
        texts = [line.strip() for line in Path(args.input).read_text(encoding="utf-8").splitlines() if line.strip()]
    report = run_loadtest(
        args.server,
        args.clients,
        args.seconds,
        texts=texts,
        texts_per_request=args.texts_per_request,
        beam=args.beam,
        timeout=args.timeout,
        max_requests=args.max_requests,
        api_key=args.api_key,
        tls=args.tls,
        root_certificates=args.tls_ca,
    )
    print(format_table(report))
    line = json.dumps(report)
    print(line)
    if args.json_out:
        Path(args.json_out).write_text(line + "\n")
    if not report["ok"]:
        print(f"error: {failure_reason(report)}", file=sys.stderr)
        return 1
    return 0


def failure_reason(report: dict[str, Any]) -> str:
    """Why no request succeeded, in one line (the error codes with their first message)."""
    if not report["requests"]:
        return f"no request was sent to {report['server']} (--seconds or --max-requests too small?)"
    causes = "; ".join(
        f"{code} x{count}: {report['error_details'].get(code, '')}".rstrip(": ")
        for code, count in report["errors"].items()
    )
    return f"no request to {report['server']} succeeded ({report['requests']} sent): {causes}"


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
