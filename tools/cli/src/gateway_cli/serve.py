"""`gateway serve SERVICE`: run one service in this process until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points

from gateway_cli import logs, tracing
from gateway_cli.ops import OpsServer
from gateway_cli.settings import ProcessSettings, read_settings
from gateway_contracts.health import Phase, ServiceHealth

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
    freezer = asyncio.create_task(_freeze_when_ready(health), name="gc-freeze")
    try:
        await serve(stop, health)
    finally:
        freezer.cancel()
        # The health endpoints and scrapes answer until the service has finished draining.
        if ops is not None:
            await ops.stop()


# Allocations of container objects between collections of the youngest
# generation; CPython's default is 700.
_GC_YOUNG_THRESHOLD = 20_000
_READY_POLL_SECONDS = 0.1
_READY_WAIT_SECONDS = 600.0


async def _freeze_when_ready(health: ServiceHealth) -> None:
    """Keep the cyclic garbage collector off the objects that live as long as the service.

    Under load the collector took about a tenth of the router's CPU (perf on
    the benchmark's non-streaming load), most of it re-scanning modules,
    settings and catalog entries that never become garbage. Once start-up is
    over, `gc.freeze()` moves every object alive to a generation that
    collections skip, and a higher threshold makes the young collections,
    which a request's short-lived objects trigger, rarer.
    """
    for _ in range(round(_READY_WAIT_SECONDS / _READY_POLL_SECONDS)):
        if health.phase is not Phase.STARTING:
            break
        await asyncio.sleep(_READY_POLL_SECONDS)
    gc.collect()
    gc.freeze()
    _young, older, oldest = gc.get_threshold()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, older, oldest)
    logger.info("Froze %d objects that live as long as the service", gc.get_freeze_count())
