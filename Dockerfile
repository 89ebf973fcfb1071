# syntax=docker/dockerfile:1
#
# One image per service, each a target of this file:
#
#   docker build --target edge -t generative-gateway/edge .
#
# Targets: edge, router, accounting, sessions, catalog (each runs
# `gateway serve SERVICE`; `gateway migrate SERVICE` in the same image applies
# its schema) and emulator (the provider emulator, for development only).
# `docker compose build` builds them all. Images run as user 10001 and report
# their health with `gateway health SERVICE` on the metrics port, 9464.

# The oldest Python the packages support (their requires-python), on which constraints.txt was resolved.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Wheels of every package of the repository and of their pinned dependencies,
# built once and installed by each target below.
FROM ${PYTHON_IMAGE} AS wheels
WORKDIR /src
COPY constraints.txt ./
COPY libs ./libs
COPY tools ./tools
COPY services ./services
RUN pip wheel --no-cache-dir --wheel-dir /wheels --constraint constraints.txt \
        "./libs/contracts[nats]" ./tools/cli ./tools/emulator \
        ./services/edge ./services/router ./services/accounting ./services/sessions ./services/catalog

# What every target shares: an empty virtual environment and the unprivileged user.
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/gateway/bin:$PATH \
    GATEWAY_DATA_DIR=/var/lib/gateway \
    GATEWAY_HTTP_HOST=0.0.0.0 \
    GATEWAY_METRICS_HOST=0.0.0.0 \
    GATEWAY_METRICS_PORT=9464
RUN python -m venv /opt/gateway \
    && groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --home-dir /var/lib/gateway --shell /usr/sbin/nologin gateway \
    && install --directory --owner=gateway --group=gateway /var/lib/gateway
WORKDIR /var/lib/gateway
ENTRYPOINT ["gateway"]
EXPOSE 9464

FROM runtime AS edge
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels gateway-cli gateway-edge
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["gateway", "health", "edge"]
CMD ["serve", "edge"]

FROM runtime AS router
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels gateway-cli gateway-router
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["gateway", "health", "router"]
CMD ["serve", "router"]

# Without chdb: the image needs CLICKHOUSE_URL, a ClickHouse server.
FROM runtime AS accounting
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels gateway-cli gateway-accounting
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["gateway", "health", "accounting"]
CMD ["serve", "accounting"]

FROM runtime AS sessions
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels gateway-cli gateway-sessions
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["gateway", "health", "sessions"]
CMD ["serve", "sessions"]

FROM runtime AS catalog
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels gateway-cli gateway-catalog
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["gateway", "health", "catalog"]
CMD ["serve", "catalog"]

# The provider emulator answers for providers without credentials when the
# router's GATEWAY_EMULATOR_URL points at it. Never for production traffic.
FROM runtime AS emulator
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels provider-emulator
USER 10001:10001
EXPOSE 8090
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8090/_emulator/requests', timeout=3)"]
ENTRYPOINT ["provider-emulator"]
CMD ["--host", "0.0.0.0", "--port", "8090"]
