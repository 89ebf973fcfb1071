"""`gateway serve SERVICE`: run one service in this process until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points

from gateway_cli import logs, tracing
from gateway_cli.ops import OpsServer
from gateway_cli.settings import ProcessSettings, read_settings
from gateway_contracts.health import ServiceHealth

ENTRY_POINT_GROUP = "gateway.services"

# A service's entry point: runs until the event is set, reporting its state through the health object.
ServeFunction = Callable[[asyncio.Event, ServiceHealth], Awaitable[None]]

logger = logging.getLogger("gateway_cli.serve")


def load_service(name: str) -> ServeFunction:
    """Find the service's `serve` function through its package's entry point."""
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        installed = sorted(point.name for point in entry_points(group=ENTRY_POINT_GROUP))
        raise SystemExit(f"Service `{name}` is not installed; installed services: {', '.join(installed) or 'none'}.")
    return next(iter(found)).load()


def run_service(name: str) -> int:
    settings = read_settings("gateway serve")
    logs.configure(name, settings.log_format, settings.log_level)
    try:
        # Before the service's modules load, so that the tracers they take are the installed provider's.
        traces = tracing.configure(name)
    except tracing.TracingConfigError as error:
        raise SystemExit(f"gateway serve: {error}") from None
    serve = load_service(name)
    try:
        _event_loop_runner()(_run(name, serve, settings))
    except SystemExit:
        raise
    except Exception:
        logger.critical("Service %s failed", name, exc_info=True)
        return 1
    finally:
        if traces is not None:
            traces.shutdown()
    return 0


def _event_loop_runner() -> Callable[[Awaitable[None]], None]:
    """uvloop where it is installed (not on Windows), asyncio's own loop elsewhere."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run  # type: ignore[return-value]  # same call shape for a coroutine
    return uvloop.run


async def _run(name: str, serve: ServeFunction, settings: ProcessSettings) -> None:
    health = ServiceHealth(name)
    stop = asyncio.Event()

    def request_stop() -> None:
        # Readiness fails from the first signal on, so that no new work is routed here while the service drains.
        health.mark_stopping()
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)

    ops = None
    if settings.metrics_port is not None:
        ops = OpsServer(health, settings.metrics_host, settings.metrics_port)
        await ops.start()
    try:
        await serve(stop, health)
    finally:
        # The health endpoints and scrapes answer until the service has finished draining.
        if ops is not None:
            await ops.stop()
