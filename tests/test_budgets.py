"""Daily budgets: 402 before any upstream call, reservations across edge replicas, keys, thresholds."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import nats

from gateway_contracts import BudgetThresholdEvent, bus
from gateway_contracts.public_events import BudgetExhausted, BudgetThresholdCrossed
from tests.accounting_helpers import (
    MODEL,
    admin,
    budget_status,
    create_key,
    create_project,
    dry_run,
    publish_events,
    spend,
    synthetic_event,
)
from tests.conftest import RunningStack, free_port
from tests.test_event_contracts import events_of
from tests.test_walking_system import unique, wait_until

BUDGET_HEADER = "x-gateway-budget-remaining-usd"


def chat(api_key: str, body: dict[str, Any], base_url: str) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        return http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {api_key}"})


def test_project_at_cap_gets_402_without_upstream_call(stack: RunningStack) -> None:
    project = create_project(stack, daily_budget_usd="0.001", timezone="Europe/Berlin")
    key = create_key(stack, project["id"])
    spend(stack, project["id"], key["id"], Decimal("0.001"))
    marker = unique("capped")

    def refused() -> httpx.Response | None:
        response = chat(key["key"], {"model": MODEL, "messages": [{"role": "user", "content": marker}]}, stack.base_url)
        return response if response.status_code == 402 else None

    response = wait_until(refused, timeout=5)

    error = response.json()["error"]
    assert error["type"] == "budget_exceeded"
    assert error["code"] == "budget_exceeded"
    assert error["budget"]["scope"] == "project"
    assert error["budget"]["cap_usd"] == "0.001"
    assert error["budget"]["spent_usd"] == "0.001"
    assert error["budget"]["timezone"] == "Europe/Berlin"
    assert error["budget"]["resets_at"].endswith("Z")
    assert "$0.001" in error["message"]
    assert error["budget"]["resets_at"] in error["message"]
    assert Decimal(response.headers[BUDGET_HEADER]) == 0
    assert response.headers["x-request-id"].startswith("req_")
    assert stack.received_with(marker) == []


def test_concurrent_streams_overshoot_at_most_one_worst_case(stack: RunningStack) -> None:
    """50 streams over two edge replicas against a budget that has room for three and a half of them."""
    second_edge = f"http://127.0.0.1:{free_port()}"
    stack.loop.run(stack.stack.start_replica("edge", "edge-2", {"GATEWAY_HTTP_PORT": second_edge.rsplit(":", 1)[1]}))
    wait_until(lambda: _ready(second_edge), timeout=60)

    cap = Decimal("0.01")
    project = create_project(stack, daily_budget_usd=str(cap))
    key = create_key(stack, project["id"])
    marker = unique("race")
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"{marker}\n#emulate words=40 delay_ms=25"}],
        "max_tokens": 40,
        "stream": True,
    }
    worst_case = Decimal(dry_run(stack, key["key"], body)["budget"]["reservation_usd"])
    spend(stack, project["id"], key["id"], cap - worst_case * Decimal("3.5"))
    # Both edges see the spend once their dry runs leave 2.5 worst cases after a reservation.
    for base_url in (stack.base_url, second_edge):
        wait_until(
            lambda url=base_url: (
                Decimal(dry_run(stack, key["key"], body, url)["budget"]["remaining_usd"]) == worst_case * Decimal("2.5")
            )
        )

    statuses = stack.loop.run(_stream_all(key["key"], body, [stack.base_url, second_edge], 50))

    admitted = statuses.count(200)
    assert admitted >= 1
    assert statuses.count(402) == 50 - admitted
    wait_until(lambda: Decimal(budget_status(stack, project["id"])["project"]["reserved_usd"]) == 0, timeout=15)
    status = budget_status(stack, project["id"])["project"]
    assert Decimal(status["spent_usd"]) <= cap + worst_case
    assert len(stack.received_with(marker)) == admitted


def test_capped_response_carries_remaining_budget(stack: RunningStack) -> None:
    capped = create_project(stack, daily_budget_usd="5")
    capped_key = create_key(stack, capped["id"])
    uncapped_key = create_key(stack, create_project(stack)["id"])
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 10}

    with_cap = chat(capped_key["key"], body, stack.base_url)
    without_cap = chat(uncapped_key["key"], body, stack.base_url)

    assert with_cap.status_code == 200
    assert Decimal(with_cap.headers[BUDGET_HEADER]) < Decimal("5")
    assert without_cap.status_code == 200
    assert BUDGET_HEADER not in without_cap.headers


def test_key_cap_applies_within_an_uncapped_project(stack: RunningStack) -> None:
    project = create_project(stack)
    capped = create_key(stack, project["id"], daily_budget_usd="0")
    free = create_key(stack, project["id"])
    marker = unique("keycap")
    body = {"model": MODEL, "messages": [{"role": "user", "content": marker}]}

    refused = wait_until(lambda: (r := chat(capped["key"], body, stack.base_url)).status_code == 402 and r)
    served = chat(free["key"], body, stack.base_url)

    assert refused.json()["error"]["budget"]["scope"] == "key"
    assert served.status_code == 200
    assert len(stack.received_with(marker)) == 1


def test_raised_key_cap_reaches_edge_quickly(stack: RunningStack) -> None:
    project = create_project(stack)
    key = create_key(stack, project["id"], daily_budget_usd="0")
    body = {"model": MODEL, "messages": [{"role": "user", "content": "again"}]}
    wait_until(lambda: chat(key["key"], body, stack.base_url).status_code == 402)

    with admin(stack) as http:
        patched = http.patch(f"/admin/projects/{project['id']}/keys/{key['id']}", json={"daily_budget_usd": "1"})
    changed_at = time.monotonic()

    assert patched.status_code == 200
    assert patched.json()["daily_budget_usd"] == "1"
    wait_until(lambda: chat(key["key"], body, stack.base_url).status_code == 200, timeout=1.0, interval=0.05)
    assert time.monotonic() - changed_at < 1.0


def test_budget_status_reports_cap_spend_and_reset(stack: RunningStack) -> None:
    project = create_project(stack, daily_budget_usd="2", timezone="Asia/Tokyo", budget_alert_threshold="0.9")
    key = create_key(stack, project["id"], daily_budget_usd="1")
    spend(stack, project["id"], key["id"], Decimal("0.25"))

    status = budget_status(stack, project["id"])

    assert status["timezone"] == "Asia/Tokyo"
    assert status["budget_alert_threshold"] == "0.9"
    assert status["project"] == {"cap_usd": "2", "spent_usd": "0.25", "reserved_usd": "0", "remaining_usd": "1.75"}
    assert status["keys"] == [
        {"key_id": key["id"], "cap_usd": "1", "spent_usd": "0.25", "reserved_usd": "0", "remaining_usd": "0.75"}
    ]
    assert status["resets_at"].endswith("15:00:00Z")


def test_threshold_event_is_published_once_a_day(stack: RunningStack) -> None:
    project = create_project(stack, daily_budget_usd="1", budget_alert_threshold="0.5")
    key = create_key(stack, project["id"])

    events = stack.loop.run(_threshold_events(stack, project["id"], key["id"]))

    assert len(events) == 1
    assert events[0].threshold == Decimal("0.5")
    assert events[0].cap_usd == Decimal("1")
    assert events[0].spent_usd == Decimal("0.6")


def test_dry_run_counts_prices_and_checks_the_budget(stack: RunningStack) -> None:
    project = create_project(stack, daily_budget_usd="0.00001")
    key = create_key(stack, project["id"])
    marker = unique("dry")
    body = {"model": MODEL, "messages": [{"role": "user", "content": f"Count me {marker}"}], "max_tokens": 100}

    report = dry_run(stack, key["key"], body)

    pricing = _pricing(stack, MODEL)
    tokens = report["prompt_tokens"]
    assert report["object"] == "chat.completion.dry_run"
    assert report["prompt_tokens_exact"] is True
    assert report["token_count_method"] == "tokenizer:o200k_base"
    assert report["max_output_tokens"] == 100
    assert Decimal(report["cost"]["min"]) == tokens * Decimal(pricing["input"]) / 1_000_000
    assert Decimal(report["cost"]["max"]) == (tokens * Decimal(pricing["input"]) + 100 * Decimal(pricing["output"])) / (
        1_000_000
    )
    assert report["budget"]["capped"] is True
    assert report["budget"]["admitted"] is False
    assert stack.received_with(marker) == []


def test_dry_run_header_marks_estimates(stack: RunningStack) -> None:
    marker = unique("dryheader")
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        response = http.post(
            "/v1/chat/completions",
            json={"model": "deepseek/deepseek-chat", "messages": [{"role": "user", "content": marker}]},
            headers={"Authorization": f"Bearer {stack.api_key}", "x-gateway-dry-run": "1"},
        )

    report = response.json()
    assert response.status_code == 200
    assert report["prompt_tokens_exact"] is False
    assert report["token_count_method"] == "estimate"
    assert report["budget"] == {"capped": False, "admitted": True}
    assert stack.received_with(marker) == []


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _pricing(stack: RunningStack, model: str) -> dict[str, Any]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        response = http.get(f"/v1/models/{model}", headers={"Authorization": f"Bearer {stack.api_key}"})
    return response.json()["pricing"]


async def _stream_all(api_key: str, body: dict[str, Any], base_urls: list[str], count: int) -> list[int]:
    """Send `count` streaming requests at once, alternating edges, and return each status."""

    async def one(client: httpx.AsyncClient) -> int:
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            async for _line in response.aiter_lines():
                pass
            return response.status_code

    headers = {"Authorization": f"Bearer {api_key}"}
    clients = [httpx.AsyncClient(base_url=url, timeout=60, headers=headers) for url in base_urls]
    try:
        return list(await asyncio.gather(*(one(clients[index % len(clients)]) for index in range(count))))
    finally:
        for client in clients:
            await client.aclose()


async def _threshold_events(stack: RunningStack, project_id: str, key_id: str) -> list[BudgetThresholdEvent]:
    """Spend 60% then 70% of the cap and collect the threshold events of the project for a while."""
    nc = await nats.connect(stack.nats_url)
    received: list[BudgetThresholdEvent] = []
    try:
        js = nc.jetstream()
        subscription = await js.subscribe(bus.BUDGET_EVENT_SUBJECT, ordered_consumer=True)
        await publish_events(stack, [synthetic_event(project_id, key_id, Decimal("0.6"))])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not received:
            received.extend(await _next_events(subscription, project_id))
        await publish_events(stack, [synthetic_event(project_id, key_id, Decimal("0.1"))])
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            received.extend(await _next_events(subscription, project_id))
        await subscription.unsubscribe()
    finally:
        await nc.close()
    return received


async def _next_events(subscription: Any, project_id: str) -> list[BudgetThresholdEvent]:
    try:
        message = await subscription.next_msg(timeout=0.5)
    except (TimeoutError, nats.errors.TimeoutError):
        return []
    event = BudgetThresholdEvent.model_validate_json(message.data)
    return [event] if event.project_id == project_id else []


def test_capped_project_rejects_an_unpriced_model(stack: RunningStack) -> None:
    from tests.test_catalog import add_custom_model

    unpriced = add_custom_model(stack, ["text", "streaming"], prices=[])
    project = create_project(stack, daily_budget_usd="5")
    key = create_key(stack, project["id"])
    marker = unique("unpriced")

    response = chat(
        key["key"], {"model": unpriced["id"], "messages": [{"role": "user", "content": marker}]}, stack.base_url
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "price_unknown"
    assert response.json()["error"]["param"] == "model"
    assert "this project's daily budget" in response.json()["error"]["message"]
    assert stack.received_with(marker) == []


def test_capped_key_rejects_an_unpriced_model(stack: RunningStack) -> None:
    from tests.test_catalog import add_custom_model

    unpriced = add_custom_model(stack, ["text", "streaming"], prices=[])
    project = create_project(stack)
    key = create_key(stack, project["id"], daily_budget_usd="5")
    markers: list[str] = []

    def attempt() -> httpx.Response | None:
        # The key's cap reaches the edge through KV, so the first attempts may pass uncapped.
        markers.append(unique("unpriced-key"))
        body = {"model": unpriced["id"], "messages": [{"role": "user", "content": markers[-1]}]}
        response = chat(key["key"], body, stack.base_url)
        return response if response.status_code == 400 else None

    response = wait_until(attempt)
    marker = markers[-1]

    assert response.json()["error"]["code"] == "price_unknown"
    assert "this key's daily budget" in response.json()["error"]["message"]
    assert "project" not in response.json()["error"]["message"]
    assert stack.received_with(marker) == []


def test_uncapped_project_may_use_an_unpriced_model(stack: RunningStack) -> None:
    from tests.test_catalog import add_custom_model

    unpriced = add_custom_model(stack, ["text", "streaming"], prices=[])

    response = chat(
        stack.api_key, {"model": unpriced["id"], "messages": [{"role": "user", "content": "hi"}]}, stack.base_url
    )

    assert response.status_code == 200
    assert response.json()["usage"]["cost"]["incomplete"] is True


def test_402_reports_remaining_clamped_at_zero(stack: RunningStack) -> None:
    project = create_project(stack, daily_budget_usd="0.001")
    key = create_key(stack, project["id"])
    spend(stack, project["id"], key["id"], Decimal("0.0011"))
    body = {"model": MODEL, "messages": [{"role": "user", "content": "over"}]}

    refused = wait_until(lambda: (r := chat(key["key"], body, stack.base_url)).status_code == 402 and r)
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        status = http.get("/v1/budget", headers={"Authorization": f"Bearer {key['key']}"}).json()

    error = refused.json()["error"]
    assert error["budget"]["spent_usd"] == "0.0011"
    assert error["budget"]["remaining_usd"] == "0"
    assert "leaving $0," in error["message"]
    assert refused.headers[BUDGET_HEADER] == "0"
    assert status["project"]["spent_usd"] == "0.0011"
    assert status["project"]["remaining_usd"] == "0"


def test_edge_rejection_publishes_exhausted_once(stack: RunningStack) -> None:
    project = create_project(stack, daily_budget_usd="0.0001")
    key = create_key(stack, project["id"])
    since = datetime.now(UTC) - timedelta(seconds=1)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "too big"}], "max_tokens": 10_000}

    statuses = [wait_until(lambda: chat(key["key"], body, stack.base_url).status_code == 402) for _ in range(3)]
    mine = lambda event: event.project_id == project["id"]  # noqa: E731
    events = events_of(stack, BudgetExhausted, since, mine)
    time.sleep(1)
    again = events_of(stack, BudgetExhausted, since, mine, timeout=2)

    assert statuses == [True, True, True]
    assert len(events) == 1
    assert len(again) == 1
    [(_, _, exhausted)] = events
    assert exhausted.cap_usd == Decimal("0.0001")
    assert exhausted.spent_usd == 0
    assert exhausted.request_id.startswith("req_")
    assert exhausted.key_id is None


def test_key_cap_rejection_publishes_exhausted_for_key(stack: RunningStack) -> None:
    project = create_project(stack)
    capped = create_key(stack, project["id"], daily_budget_usd="0.0001")
    since = datetime.now(UTC) - timedelta(seconds=1)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "too big"}], "max_tokens": 10_000}

    statuses = [wait_until(lambda: chat(capped["key"], body, stack.base_url).status_code == 402) for _ in range(2)]
    mine = lambda event: event.project_id == project["id"]  # noqa: E731
    events = events_of(stack, BudgetExhausted, since, mine)
    time.sleep(1)
    again = events_of(stack, BudgetExhausted, since, mine, timeout=2)

    assert statuses == [True, True]
    assert len(again) == 1
    [(_, _, exhausted)] = events
    assert exhausted.key_id == capped["id"]
    assert exhausted.cap_usd == Decimal("0.0001")


def test_cap_below_spend_publishes_threshold_and_exhausted(stack: RunningStack) -> None:
    project = create_project(stack, daily_budget_usd="10", budget_alert_threshold="0.9")
    key = create_key(stack, project["id"])
    spend(stack, project["id"], key["id"], Decimal("0.52"))
    since = datetime.now(UTC) - timedelta(seconds=1)

    with admin(stack) as http:
        lowered = http.patch(f"/admin/projects/{project['id']}", json={"daily_budget_usd": "0.5"})
        raised_again = http.patch(f"/admin/projects/{project['id']}", json={"daily_budget_usd": "0.4"})

    assert lowered.status_code == 200, lowered.text
    assert raised_again.status_code == 200, raised_again.text
    mine = lambda event: event.project_id == project["id"]  # noqa: E731
    [(_, _, crossed)] = events_of(stack, BudgetThresholdCrossed, since, mine)
    [(_, _, exhausted)] = events_of(stack, BudgetExhausted, since, mine)
    time.sleep(1)
    assert len(events_of(stack, BudgetExhausted, since, mine, timeout=2)) == 1
    assert crossed.cap_usd == Decimal("0.5")
    assert crossed.spent_usd == Decimal("0.52")
    assert exhausted.cap_usd == Decimal("0.5")
    assert exhausted.spent_usd == Decimal("0.52")
