"""Exact costs in responses for every token kind, and the analytics that add them up."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from tests.accounting_helpers import MODEL, admin, create_key, create_project, reconcile
from tests.conftest import RunningStack
from tests.test_walking_system import unique, wait_until

DIRECTIVES = "#emulate cached=40 cache_write=10 audio_in=5 reasoning=30 audio_out=2"
MILLION = Decimal(1_000_000)


def expected_cost(usage: dict[str, Any], pricing: dict[str, Any]) -> dict[str, Decimal]:
    """Price OpenAI's usage object by hand: subsets at their own price, or at the plain one when they have none."""

    def price(kind: str, fallback: str) -> Decimal:
        return Decimal(pricing[kind] if pricing.get(kind) is not None else pricing[fallback])

    prompt = usage["prompt_tokens_details"]
    completion = usage["completion_tokens_details"]
    cached = prompt["cached_tokens"]
    written = prompt.get("cache_write_tokens", 0)
    audio_in = prompt["audio_tokens"]
    reasoning = completion["reasoning_tokens"]
    audio_out = completion["audio_tokens"]
    parts = {
        "input": (usage["prompt_tokens"] - cached - written - audio_in) * Decimal(pricing["input"]),
        "cached_input": cached * price("cached_input", "input"),
        "cache_write": written * price("cache_write", "input"),
        "audio_input": audio_in * price("audio_input", "input"),
        "output": (usage["completion_tokens"] - reasoning - audio_out) * Decimal(pricing["output"]),
        "reasoning": reasoning * price("reasoning", "output"),
        "audio_output": audio_out * price("audio_output", "output"),
    }
    costs = {part: amount / MILLION for part, amount in parts.items()}
    costs["total"] = sum(costs.values(), Decimal(0))
    return costs


def pricing_of(stack: RunningStack, model: str) -> dict[str, Any]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        return http.get(f"/v1/models/{model}", headers={"Authorization": f"Bearer {stack.api_key}"}).json()["pricing"]


def assert_cost_matches(usage: dict[str, Any], pricing: dict[str, Any]) -> Decimal:
    cost = usage["cost"]
    assert cost["currency"] == "USD"
    for part, amount in expected_cost(usage, pricing).items():
        assert Decimal(cost[part]) == amount, part
        assert "E" not in cost[part]
    for part in ("image_input", "image_output", "request"):
        assert cost[part] == "0"
    return Decimal(cost["total"])


def test_every_token_kind_priced_in_both_shapes(stack: RunningStack) -> None:
    key = create_key(stack, create_project(stack)["id"])
    client = stack.client(api_key=key["key"])
    pricing = pricing_of(stack, MODEL)

    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": f"{unique('kinds')}\n{DIRECTIVES}"}]
    )
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"{unique('kinds')}\n{DIRECTIVES}"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    plain_total = assert_cost_matches(completion.usage.model_dump(), pricing)
    streamed_total = assert_cost_matches(chunks[-1].usage.model_dump(), pricing)
    assert all(chunk.usage is None for chunk in chunks[:-1])

    analytics = wait_until(lambda: _analytics(stack, key["key"], requests=2))
    totals = analytics["totals"]
    assert Decimal(totals["cost_usd"]["total"]) == plain_total + streamed_total
    assert totals["tokens"]["cached_tokens"] == 80
    assert totals["tokens"]["cache_write_tokens"] == 20
    assert totals["tokens"]["reasoning_tokens"] == 60
    assert totals["tokens"]["audio_input_tokens"] == 10
    assert totals["tokens"]["audio_output_tokens"] == 4
    assert totals["errors"] == 0


def test_analytics_series_by_model_and_key(stack: RunningStack) -> None:
    project = create_project(stack)
    first = create_key(stack, project["id"])
    second = create_key(stack, project["id"])
    stack.client(api_key=first["key"]).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "one"}]
    )
    stack.client(api_key=second["key"]).chat.completions.create(
        model="deepseek/deepseek-chat", messages=[{"role": "user", "content": "two"}]
    )
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        http.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "#emulate error=500"}]},
            headers={"Authorization": f"Bearer {first['key']}"},
        )
    wait_until(lambda: _analytics(stack, first["key"], requests=3))

    with admin(stack) as http:
        response = http.get(
            f"/admin/projects/{project['id']}/analytics", params={"granularity": "hour", "group_by": "model,key"}
        )

    report = response.json()
    assert response.status_code == 200
    rows = {(row["model"], row["key_id"]): row for row in report["rows"]}
    assert set(rows) == {(MODEL, first["id"]), ("deepseek/deepseek-chat", second["id"])}
    assert rows[(MODEL, first["id"])]["requests"] == 2
    assert rows[(MODEL, first["id"])]["errors"] == 1
    assert rows[(MODEL, first["id"])]["error_rate"] == 0.5
    assert rows[(MODEL, first["id"])]["latency_ms"]["p50"] > 0
    assert rows[(MODEL, first["id"])]["period"] is not None
    assert report["totals"]["requests"] == 3
    assert reconcile(stack, project["id"])["matches"] is True


def test_analytics_rejects_unknown_dimension(stack: RunningStack) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        response = http.get(
            "/v1/analytics", params={"group_by": "colour"}, headers={"Authorization": f"Bearer {stack.api_key}"}
        )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "group_by"


def _analytics(stack: RunningStack, api_key: str, requests: int) -> dict[str, Any] | None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        response = http.get("/v1/analytics", headers={"Authorization": f"Bearer {api_key}"})
    report = response.json()
    return report if report["totals"]["requests"] >= requests else None
