"""The views a console reads with a project key: the newest requests and today's budget."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from tests.accounting_helpers import MODEL, admin, create_key, create_project
from tests.conftest import RunningStack
from tests.test_walking_system import unique, wait_until


def _recent(stack: RunningStack, api_key: str, **params: Any) -> httpx.Response:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        return http.get("/v1/requests", params=params, headers={"Authorization": f"Bearer {api_key}"})


def _chat(stack: RunningStack, api_key: str, **extra: Any) -> tuple[str, Any]:
    """Send one chat and return its request id with the completion."""
    raw = stack.client(api_key=api_key).chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": unique("recent")}], extra_body=extra or None
    )
    return raw.headers["x-request-id"], raw.parse()


def _rows_once(stack: RunningStack, api_key: str, count: int) -> list[dict[str, Any]] | None:
    response = _recent(stack, api_key)
    assert response.status_code == 200, response.text
    rows = response.json()["data"]
    return rows if len(rows) >= count else None


def test_recent_requests_newest_first(stack: RunningStack) -> None:
    project = create_project(stack)
    key = create_key(stack, project["id"])
    session_id = unique("session")

    first_id, _ = _chat(stack, key["key"])
    second_id, second = _chat(stack, key["key"], session_id=session_id)

    rows = wait_until(lambda: _rows_once(stack, key["key"], 2))
    assert [row["request_id"] for row in rows] == [second_id, first_id]
    newest = rows[0]
    assert newest["model"] == MODEL
    assert newest["key_id"] == key["id"]
    assert newest["status"] == "ok"
    assert newest["http_status"] == 200
    assert newest["session_id"] == session_id
    assert rows[1]["session_id"] is None
    assert newest["tokens"]["prompt_tokens"] == second.usage.prompt_tokens
    assert newest["tokens"]["completion_tokens"] == second.usage.completion_tokens
    assert Decimal(newest["cost_usd"]) == Decimal(second.usage.model_dump()["cost"]["total"])
    assert newest["latency_ms"] > 0


def test_recent_requests_limit_and_admin_view(stack: RunningStack) -> None:
    project = create_project(stack)
    key = create_key(stack, project["id"])
    client = stack.client(api_key=key["key"])
    for _ in range(3):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": unique("many")}])
    rows = wait_until(lambda: _rows_once(stack, key["key"], 3))

    limited = _recent(stack, key["key"], limit=2)
    with admin(stack) as http:
        as_admin = http.get(f"/admin/projects/{project['id']}/requests", params={"limit": 2})

    assert [row["request_id"] for row in limited.json()["data"]] == [row["request_id"] for row in rows[:2]]
    assert as_admin.status_code == 200, as_admin.text
    assert as_admin.json()["data"] == limited.json()["data"]


def test_recent_requests_stay_in_project(stack: RunningStack) -> None:
    owner = create_key(stack, create_project(stack)["id"])
    stranger = create_key(stack, create_project(stack)["id"])
    stack.client(api_key=owner["key"]).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": unique("mine")}]
    )
    wait_until(lambda: _rows_once(stack, owner["key"], 1))

    response = _recent(stack, stranger["key"])

    assert response.status_code == 200
    assert response.json()["data"] == []


def test_recent_requests_reject_bad_limit(stack: RunningStack) -> None:
    response = _recent(stack, stack.api_key, limit=0)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "limit"


def test_recent_requests_need_project_key(stack: RunningStack) -> None:
    response = _recent(stack, stack.admin_token)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_budget_of_uncapped_project_counts_spend(stack: RunningStack) -> None:
    project = create_project(stack)
    key = create_key(stack, project["id"])
    completion = stack.client(api_key=key["key"]).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": unique("uncapped")}]
    )
    cost = Decimal(completion.usage.model_dump()["cost"]["total"])
    assert cost > 0

    def settled() -> dict[str, Any] | None:
        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            response = http.get("/v1/budget", headers={"Authorization": f"Bearer {key['key']}"})
        assert response.status_code == 200, response.text
        body = response.json()
        return body if Decimal(body["project"]["spent_usd"]) > 0 else None

    status = wait_until(settled)
    assert status["project"]["cap_usd"] is None
    assert Decimal(status["project"]["spent_usd"]) == cost
    assert status["project"]["remaining_usd"] is None


def test_budget_of_callers_project(stack: RunningStack) -> None:
    project = create_project(stack, daily_budget_usd="2.5")
    key = create_key(stack, project["id"])
    completion = stack.client(api_key=key["key"]).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": unique("budget")}]
    )
    cost = Decimal(completion.usage.model_dump()["cost"]["total"])

    def settled() -> dict[str, Any] | None:
        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            response = http.get("/v1/budget", headers={"Authorization": f"Bearer {key['key']}"})
        assert response.status_code == 200, response.text
        body = response.json()
        return body if Decimal(body["project"]["spent_usd"]) > 0 else None

    status = wait_until(settled)
    assert status["project_id"] == project["id"]
    assert Decimal(status["project"]["cap_usd"]) == Decimal("2.5")
    assert Decimal(status["project"]["spent_usd"]) == cost
