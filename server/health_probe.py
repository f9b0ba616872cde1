"""Container health check: exit 0 if the gRPC health service says SERVING, else 1.

    python -m server.health_probe [--address localhost:50051] [--service NAME] [--timeout 3]

TLS servers: pass `--tls` (and `--ca FILE` for a private CA). The address
defaults to localhost:$TRANSLATOR_PORT (50051).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def probe(address: str, service: str = "", timeout: float = 3.0, tls: bool = False, ca: str | None = None) -> str:
    """The status name (SERVING, NOT_SERVING, ...) or the gRPC error code name."""
    if tls or ca:
        creds = grpc.ssl_channel_credentials(Path(ca).read_bytes() if ca else None)
        channel = grpc.secure_channel(address, creds)
    else:
        channel = grpc.insecure_channel(address)
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as exc:
            return exc.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m server.health_probe", description=__doc__.splitlines()[0])
    p.add_argument("--address", default=f"localhost:{os.environ.get('TRANSLATOR_PORT') or 50051}")
    p.add_argument("--service", default="", help="service name ('' = the whole server)")
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--ca", help="PEM CA certificate for --tls")
    args = p.parse_args(argv)
    status = probe(args.address, args.service, args.timeout, args.tls, args.ca)
    print(status)
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
