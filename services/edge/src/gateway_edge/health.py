"""`GET /healthz` (the process is alive) and `GET /readyz` (it can serve requests)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from starlette.responses import JSONResponse

from gateway_contracts import bus
from gateway_edge.state import EdgeState

router = APIRouter()

# Readiness probes may come several times a second; one router ping per second is enough.
_READY_CACHE_SECONDS = 1.0
_PING_TIMEOUT_SECONDS = 1.0


@router.get("/healthz", summary="Liveness")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="Readiness: NATS reachable and a router answering")
async def readyz(request: Request) -> JSONResponse:
    state: EdgeState = request.app.state.edge
    checked_at, ready, reason = getattr(request.app.state, "readiness", (0.0, False, "not checked"))
    if time.monotonic() - checked_at > _READY_CACHE_SECONDS:
        ready, reason = await _check(state)
        request.app.state.readiness = (time.monotonic(), ready, reason)
    if ready:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)


async def _check(state: EdgeState) -> tuple[bool, str]:
    if not state.nc.is_connected:
        return False, "NATS is not reachable"
    try:
        await state.nc.request(bus.ROUTER_PING, b"", timeout=_PING_TIMEOUT_SECONDS)
    except (NoRespondersError, NatsTimeoutError):
        return False, "no router answered"
    return True, "ok"
