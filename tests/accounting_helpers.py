"""Helpers for the budget, cost and accounting tests: admin calls and synthetic usage events."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import nats

from gateway_contracts import CostBreakdown, TokenUsage, UsageEvent, bus
from tests.conftest import RunningStack
from tests.test_walking_system import unique, wait_until

MODEL = "openai/gpt-4o-mini"


def admin(stack: RunningStack) -> httpx.Client:
    return httpx.Client(base_url=stack.base_url, timeout=30, headers={"Authorization": f"Bearer {stack.admin_token}"})


def create_project(stack: RunningStack, **fields: Any) -> dict[str, Any]:
    with admin(stack) as http:
        response = http.post("/admin/projects", json={"name": unique("project"), **fields})
    assert response.status_code == 201, response.text
    return response.json()


def create_key(stack: RunningStack, project_id: str, **fields: Any) -> dict[str, Any]:
    with admin(stack) as http:
        response = http.post(f"/admin/projects/{project_id}/keys", json={"name": "test", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def budget_status(stack: RunningStack, project_id: str) -> dict[str, Any]:
    with admin(stack) as http:
        response = http.get(f"/admin/projects/{project_id}/budget")
    assert response.status_code == 200, response.text
    return response.json()


def reconcile(stack: RunningStack, project_id: str) -> dict[str, Any] | None:
    """Return the reconciliation report, or None while accounting does not respond."""
    with admin(stack) as http:
        response = http.get(f"/admin/projects/{project_id}/reconcile")
    if response.status_code == 503:
        return None
    assert response.status_code == 200, response.text
    return response.json()


def synthetic_event(project_id: str, key_id: str, cost: Decimal) -> UsageEvent:
    now = datetime.now(UTC)
    return UsageEvent(
        request_id=f"req_{uuid.uuid4().hex}",
        project_id=project_id,
        key_id=key_id,
        model=MODEL,
        provider="openai",
        upstream_model="gpt-4o-mini",
        status="ok",
        http_status=200,
        stream=False,
        usage=TokenUsage(prompt_tokens=10, completion_tokens=5, total_tokens=15),
        cost=CostBreakdown(input=cost, total=cost),
        started_at=now,
        finished_at=now,
        latency_ms=10.0,
    )


async def publish_events(stack: RunningStack, events: list[UsageEvent]) -> None:
    """Publish usage events as the router does, each under its own message id."""
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        acks = [
            await js.publish_async(
                bus.USAGE_EVENT_SUBJECT,
                event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": f"usage:{event.request_id}"},
            )
            for event in events
        ]
        await asyncio.gather(*acks)
    finally:
        await nc.close()


def spend(stack: RunningStack, project_id: str, key_id: str, cost: Decimal) -> None:
    """Record `cost` as spent today by the key, and wait until accounting has it."""
    before = Decimal(budget_status(stack, project_id)["project"]["spent_usd"])
    stack.loop.run(publish_events(stack, [synthetic_event(project_id, key_id, cost)]))
    wait_until(lambda: Decimal(budget_status(stack, project_id)["project"]["spent_usd"]) == before + cost)


def dry_run(stack: RunningStack, api_key: str, body: dict[str, Any], base_url: str | None = None) -> dict[str, Any]:
    with httpx.Client(base_url=base_url or stack.base_url, timeout=30) as http:
        response = http.post(
            "/v1/chat/completions", json={**body, "dry_run": True}, headers={"Authorization": f"Bearer {api_key}"}
        )
    assert response.status_code == 200, response.text
    return response.json()
