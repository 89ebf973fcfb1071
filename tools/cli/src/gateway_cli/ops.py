"""The metrics port of one service process: `GET /metrics`, `GET /healthz` and `GET /readyz`.

It runs in the service's own event loop, so a loop that is blocked fails the
liveness probe too.
"""

from __future__ import annotations

import logging

from aiohttp import web

from gateway_cli.metrics import metrics_handler
from gateway_contracts.health import ProbeResult, ServiceHealth

logger = logging.getLogger("gateway_cli.ops")


class OpsServer:
    def __init__(self, health: ServiceHealth, host: str, port: int) -> None:
        self._health = health
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port listened on, which differs from the configured one only when that was 0."""
        assert self._runner is not None, "the server is not started"
        address = self._runner.addresses[0]
        return int(address[1])

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._liveness)
        app.router.add_get("/readyz", self._readiness)
        app.router.add_get("/metrics", metrics_handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port, reuse_address=True).start()
        except OSError as error:
            await runner.cleanup()
            raise SystemExit(
                f"Cannot listen on {self._host}:{self._port} ({error.strerror}); "
                "set GATEWAY_METRICS_PORT to a free port."
            ) from None
        self._runner = runner
        logger.info("Metrics and health endpoints on http://%s:%d", self._host, self.port)

    async def stop(self) -> None:
        if self._runner is None:
            return
        await self._runner.cleanup()
        self._runner = None

    async def _liveness(self, request: web.Request) -> web.Response:
        return _respond(self._health.liveness(), "ok")

    async def _readiness(self, request: web.Request) -> web.Response:
        return _respond(self._health.readiness(), "ready")


def _respond(result: ProbeResult, passed_status: str) -> web.Response:
    body = {"status": passed_status if result.passed else "failing", **result.as_json()}
    return web.json_response(body, status=200 if result.passed else 503)
