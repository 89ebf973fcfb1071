"""`gateway serve SERVICE`: run one service in this process until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points

from gateway_cli import logs

ENTRY_POINT_GROUP = "gateway.services"
SERVICES = ("edge", "router", "accounting", "sessions", "catalog")

ServeFunction = Callable[[asyncio.Event], Awaitable[None]]

logger = logging.getLogger("gateway_cli.serve")


def load_service(name: str) -> ServeFunction:
    """Find the service's `serve` function through its package's entry point."""
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        installed = sorted(point.name for point in entry_points(group=ENTRY_POINT_GROUP))
        raise SystemExit(f"Service `{name}` is not installed; installed services: {', '.join(installed) or 'none'}.")
    return next(iter(found)).load()


def run_service(name: str) -> int:
    logs.configure(name, os.environ.get("GATEWAY_LOG_FORMAT", "json"), os.environ.get("GATEWAY_LOG_LEVEL", "INFO"))
    serve = load_service(name)
    try:
        _event_loop_runner()(_run(serve))
    except SystemExit:
        raise
    except Exception:
        logger.critical("Service %s failed", name, exc_info=True)
        return 1
    return 0


def _event_loop_runner() -> Callable[[Awaitable[None]], None]:
    """uvloop where it is installed (not on Windows), asyncio's own loop elsewhere."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run  # type: ignore[return-value]  # same call shape for a coroutine
    return uvloop.run


async def _run(serve: ServeFunction) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(stop)
