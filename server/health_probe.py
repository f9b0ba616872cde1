"""Container health check: exit 0 if the gRPC health service says SERVING, else 1.

    python -m server.health_probe [--address localhost:50051] [--service NAME] [--timeout 3]

The address defaults to localhost:$TRANSLATOR_PORT (50051). TLS follows the
server's own settings, so the image's HEALTHCHECK needs no flags: when
$TRANSLATOR_TLS_CERT is set (the server serves TLS), the probe connects with
TLS and trusts $TRANSLATOR_HEALTH_CA if set, else that certificate itself
(enough for a self-signed certificate). `--tls` / `--no-tls` and `--ca FILE`
override this. `--server-name NAME` ($TRANSLATOR_HEALTH_SERVER_NAME) is the
name the certificate is checked against instead of the address's host, for a
certificate issued to the service's public name while the probe dials
localhost (grpc.ssl_target_name_override).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def probe(
    address: str,
    service: str = "",
    timeout: float = 3.0,
    tls: bool = False,
    ca: str | None = None,
    server_name: str | None = None,
) -> str:
    """The status name (SERVING, NOT_SERVING, ...) or the gRPC error code name."""
    if tls or ca:
        creds = grpc.ssl_channel_credentials(Path(ca).read_bytes() if ca else None)
        options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
        channel = grpc.secure_channel(address, creds, options=options)
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


def tls_settings(tls: bool | None, ca: str | None, environ: Mapping[str, str] | None = None) -> tuple[bool, str | None]:
    """(use TLS, CA file): explicit flags win; else TLS iff $TRANSLATOR_TLS_CERT is set, trusting
    $TRANSLATOR_HEALTH_CA or, without it, the server's certificate itself."""
    env = os.environ if environ is None else environ
    cert = env.get("TRANSLATOR_TLS_CERT") or None
    if tls is None:
        tls = bool(ca or cert)
    if tls and ca is None:
        ca = env.get("TRANSLATOR_HEALTH_CA") or cert
    return tls, (ca if tls else None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m server.health_probe", description=__doc__.splitlines()[0])
    p.add_argument("--address", default=f"localhost:{os.environ.get('TRANSLATOR_PORT') or 50051}")
    p.add_argument("--service", default="", help="service name ('' = the whole server)")
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--tls", action=argparse.BooleanOptionalAction, default=None,
                   help="connect with TLS (default: iff $TRANSLATOR_TLS_CERT is set)")  # fmt: skip
    p.add_argument("--ca", help="PEM root certificates for TLS (default: $TRANSLATOR_HEALTH_CA, else "
                   "$TRANSLATOR_TLS_CERT; with --tls and neither: the system's roots)")  # fmt: skip
    p.add_argument("--server-name", default=os.environ.get("TRANSLATOR_HEALTH_SERVER_NAME") or None,
                   help="TLS: the name to check the certificate against instead of the address's host "
                        "(grpc.ssl_target_name_override; env TRANSLATOR_HEALTH_SERVER_NAME)")  # fmt: skip
    args = p.parse_args(argv)
    tls, ca = tls_settings(args.tls, args.ca)
    try:
        status = probe(args.address, args.service, args.timeout, tls, ca, args.server_name)
    except OSError as exc:  # an unreadable CA file
        status = f"cannot read {ca}: {exc.strerror}"
    print(status)
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
