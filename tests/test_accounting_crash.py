"""Accounting killed with SIGKILL in the middle of its batches loses and doubles nothing."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from tests.accounting_helpers import create_key, create_project, publish_events, reconcile, synthetic_event
from tests.conftest import RunningStack
from tests.test_walking_system import wait_until

EVENTS = 3000
KILL_AFTER = 400


def test_killed_mid_batch_counts_every_request_once(stack: RunningStack) -> None:
    project = create_project(stack)
    key = create_key(stack, project["id"])
    # Costs with nine significant digits, so that a lost or doubled event shows far below a cent.
    events = [
        synthetic_event(project["id"], key["id"], Decimal(index % 97 + 1) * Decimal("0.000001234567"))
        for index in range(EVENTS)
    ]
    expected = sum((event.cost.total for event in events), Decimal(0))

    publishing = asyncio.run_coroutine_threadsafe(_publish_in_slices(stack, events), stack.loop.loop)
    recorded = wait_until(
        lambda: _recorded_between(stack, project["id"], KILL_AFTER, EVENTS), timeout=60, interval=0.02
    )
    stack.loop.run(stack.stack.kill_service("accounting"))
    publishing.result(timeout=120)
    stack.loop.run(stack.stack.start_service("accounting"))

    report = wait_until(lambda: _settled(stack, project["id"]), timeout=120, interval=0.5)

    [day] = report["days"]
    assert KILL_AFTER <= recorded < EVENTS
    assert day["postgres_requests"] == EVENTS
    assert day["clickhouse_requests"] == EVENTS
    assert day["rollup_requests"] == EVENTS
    assert Decimal(day["postgres_usd"]) == expected
    assert Decimal(day["clickhouse_usd"]) == expected
    assert Decimal(day["rollup_usd"]) == expected
    assert report["matches"] is True


async def _publish_in_slices(stack: RunningStack, events: list) -> None:
    """Publish at a steady pace, so that accounting is still working through them when it is killed."""
    for start in range(0, len(events), 100):
        await publish_events(stack, events[start : start + 100])
        await asyncio.sleep(0.05)


def _recorded_between(stack: RunningStack, project_id: str, low: int, high: int) -> int | None:
    report = reconcile(stack, project_id)
    if report is None or not report["days"]:
        return None
    count = report["days"][0]["postgres_requests"]
    return count if low <= count < high else None


def _settled(stack: RunningStack, project_id: str) -> dict | None:
    report = reconcile(stack, project_id)
    if report is None or not report["days"]:
        return None
    day = report["days"][0]
    if day["postgres_requests"] < EVENTS or day["pending_requests"] or not report["matches"]:
        time.sleep(0.1)
        return None
    return report
