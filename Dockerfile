# syntax=docker/dockerfile:1
# The gRPC translation server with the model bundle inside.
#   docker build -t translator .    (bundles models/default, the shipped model; for one you trained with
#                                    `make train-default`, first copy runs/multi30k/model to models/default)
#   docker run --stop-timeout 30 -p 50051:50051 -p 9090:9090 translator   (gRPC :50051, Prometheus /metrics :9090)
# --stop-timeout: `docker stop` sends SIGTERM, then SIGKILL after 10 s by default, shorter than the
# drain (TRANSLATOR_DRAIN_DELAY_S + TRANSLATOR_GRACE_PERIOD_S=20); compose sets stop_grace_period: 30s.
# Flags after the image name go to `translator serve` (e.g. `--device cuda`); every flag is
# also a TRANSLATOR_* environment variable. With TLS (TRANSLATOR_TLS_CERT/_KEY) the HEALTHCHECK
# probes with TLS by itself (server/README.md, "Deployment").

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv with the package and its pinned dependencies --------------------
FROM ${PYTHON_IMAGE} AS build
# e.g. --build-arg PIP_EXTRA_INDEX_URL=<a CPU-only torch wheel index> for a smaller CPU image
ARG PIP_EXTRA_INDEX_URL=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY translator ./translator
COPY training ./training
COPY server ./server
RUN pip install --upgrade pip && pip install . && python -c "import server, translator._proto.translator_pb2_grpc"

# --- runtime: the virtualenv, the model bundle, a non-root user ----------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TRANSLATOR_MODEL=/app/models/default \
    TRANSLATOR_HOST=[::] \
    TRANSLATOR_PORT=50051 \
    TRANSLATOR_METRICS_PORT=9090 \
    TRANSLATOR_GRACE_PERIOD_S=20
RUN groupadd --system --gid 10001 translator \
    && useradd --system --uid 10001 --gid translator --home-dir /app --shell /usr/sbin/nologin translator
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --chown=root:root models/default /app/models/default
USER 10001:10001
EXPOSE 50051 9090
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "server.health_probe", "--timeout", "3"]
ENTRYPOINT ["translator", "serve"]
CMD []
