"""`gateway health SERVICE`: ask a service on this host for its readiness or liveness.

Container health checks run it inside the service's container, so it reads
the same `GATEWAY_METRICS_HOST` and `GATEWAY_METRICS_PORT` as the service.
"""

from __future__ import annotations

import sys

import httpx

from gateway_cli.settings import read_settings

# Addresses that mean "every interface" when listened on, and where a client on the same host connects instead.
_LOCAL_FOR_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
_TIMEOUT_SECONDS = 3.0


def run_health(service: str, live: bool) -> int:
    settings = read_settings("gateway health")
    if settings.metrics_port is None:
        print(
            "gateway health: GATEWAY_METRICS_PORT is not set, so the service serves no health endpoints; "
            "set it to the same port for the service and for this command.",
            file=sys.stderr,
        )
        return 2

    host = _LOCAL_FOR_WILDCARD.get(settings.metrics_host, settings.metrics_host)
    if ":" in host:
        host = f"[{host}]"
    url = f"http://{host}:{settings.metrics_port}/{'healthz' if live else 'readyz'}"
    try:
        response = httpx.get(url, timeout=_TIMEOUT_SECONDS)
        body = response.json()
    except (httpx.HTTPError, ValueError) as error:
        print(f"{service}: no health response from {url}: {error}", file=sys.stderr)
        return 1

    if body.get("service") != service:
        print(f"{service}: {url} belongs to service {body.get('service')!r}, not {service!r}.", file=sys.stderr)
        return 1
    if response.status_code != 200:
        failing = ", ".join(body.get("failing", [])) or f"HTTP {response.status_code}"
        print(f"{service}: {body.get('status')} ({failing})", file=sys.stderr)
        return 1
    print(f"{service}: {body.get('status')}")
    return 0
