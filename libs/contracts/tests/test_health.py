"""How a service's phase, checks and watched tasks turn into liveness and readiness."""

from __future__ import annotations

import asyncio

from gateway_contracts.health import Phase, ServiceHealth


def test_starting_service_is_alive_but_not_ready() -> None:
    health = ServiceHealth("router")

    assert health.liveness().passed
    assert health.readiness().failing == ("service is starting",)


def test_ready_service_passes_both_probes() -> None:
    health = ServiceHealth("router")
    health.mark_ready()

    assert health.liveness().as_json() == {"service": "router", "phase": "ready", "failing": []}
    assert health.readiness().passed


def test_stopping_service_stays_alive_and_stops_being_ready() -> None:
    health = ServiceHealth("edge")
    health.mark_ready()
    health.mark_stopping()
    health.mark_ready()

    assert health.phase is Phase.STOPPING
    assert health.liveness().passed
    assert health.readiness().failing == ("service is stopping",)


def test_failing_readiness_check_keeps_service_alive() -> None:
    health = ServiceHealth("sessions")
    connected = False
    health.add_readiness_check("NATS connected", lambda: connected)
    health.mark_ready()

    assert health.liveness().passed
    assert health.readiness().failing == ("NATS connected",)
    connected = True
    assert health.readiness().passed


def test_check_that_raises_counts_as_failing() -> None:
    health = ServiceHealth("catalog")
    health.add_liveness_check("pool open", lambda: 1 / 0 == 0)

    assert health.liveness().failing == ("pool open",)


async def test_watched_task_that_ended_fails_liveness_until_stopping() -> None:
    health = ServiceHealth("accounting")
    task = asyncio.create_task(asyncio.sleep(0), name="usage-ingest")
    health.watch_task(task)
    health.mark_ready()
    assert health.liveness().passed

    await task

    assert health.liveness().failing == ("task usage-ingest is running",)
    assert health.readiness().failing == ("task usage-ingest is running",)
    health.mark_stopping()
    assert health.liveness().passed
