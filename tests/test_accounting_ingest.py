"""Accounting counts each request once, however often its usage event is delivered."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import nats

from gateway_contracts import CostBreakdown, TokenUsage, UsageEvent, bus
from tests.conftest import RunningStack
from tests.test_walking_system import create_key_record, wait_until


def usage_event(project_id: str, key_id: str) -> UsageEvent:
    now = datetime.now(UTC)
    return UsageEvent(
        request_id=f"req_{uuid.uuid4().hex}",
        project_id=project_id,
        key_id=key_id,
        model="openai/gpt-4o-mini",
        provider="openai",
        upstream_model="gpt-4o-mini",
        status="ok",
        http_status=200,
        stream=False,
        usage=TokenUsage(prompt_tokens=100, completion_tokens=20, total_tokens=120),
        cost=CostBreakdown(input=Decimal("0.000015"), output=Decimal("0.000012"), total=Decimal("0.000027")),
        started_at=now,
        finished_at=now,
        latency_ms=12.5,
    )


async def publish_twice(stack: RunningStack, event: UsageEvent) -> None:
    """Publish the same event under two message ids, as a redelivery after a lost ack looks."""
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        payload = event.model_dump_json().encode()
        for attempt in range(2):
            await js.publish(bus.USAGE_EVENT_SUBJECT, payload, headers={"Nats-Msg-Id": f"{event.request_id}-{attempt}"})
    finally:
        await nc.close()


def test_redelivered_event_is_counted_once(stack: RunningStack) -> None:
    record = create_key_record(stack)
    event = usage_event(record["project_id"], record["id"])

    stack.loop.run(publish_twice(stack, event))

    def rows() -> list[dict]:
        response = httpx.get(
            f"{stack.base_url}/v1/usage", headers={"Authorization": f"Bearer {record['key']}"}, timeout=10
        )
        return response.json()["data"]

    [row] = wait_until(rows)
    time.sleep(1.0)
    [row] = rows()
    assert row["requests"] == 1
    assert row["prompt_tokens"] == 100
    assert row["cost_usd"] == "0.000027"
