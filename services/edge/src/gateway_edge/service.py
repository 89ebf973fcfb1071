"""Run the edge under uvicorn until asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn

from gateway_contracts.health import ServiceHealth
from gateway_edge.app import create_app
from gateway_edge.http_protocol import CoalescingHttpToolsProtocol
from gateway_edge.settings import EdgeSettings

logger = logging.getLogger("gateway_edge")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers (the `gateway` command owns the signals), reporting its start."""

    def __init__(self, config: uvicorn.Config, health: ServiceHealth) -> None:
        super().__init__(config)
        self._health = health

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        # uvicorn sets `started` once it listens; a failed lifespan start-up exits before this line.
        if self.started:
            self._health.mark_ready()


async def serve(stop: asyncio.Event, health: ServiceHealth) -> None:
    """Serve HTTP until `stop` is set, then finish in-flight requests within the grace period."""
    settings = EdgeSettings()
    app = create_app(settings)
    health.add_readiness_check("NATS connected", lambda: app.state.edge.nc.is_connected)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="none",
        http=CoalescingHttpToolsProtocol,
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        server_header=False,
    )
    server = _Server(config, health)
    sock = _bind(settings.host, settings.port)

    async def stop_when_asked() -> None:
        await stop.wait()
        logger.info("Edge stopping: finishing in-flight requests")
        server.should_exit = True

    watcher = asyncio.create_task(stop_when_asked(), name="edge-stop")
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()
    logger.info("Edge stopped")


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so that a busy port fails with a message naming its variable."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise SystemExit(
            f"Cannot listen on {host}:{port} ({error.strerror}); set GATEWAY_HTTP_PORT to a free port."
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
