"""Request checks at the edge: each bad body gets a 400 naming the field, and no provider sees it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import RunningStack

MODEL = "openai/gpt-4o-mini"


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def post(stack: RunningStack, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    with stack.http() as http:
        return http.post(
            "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {stack.api_key}", **(headers or {})},
        )


def assert_rejected(response: Any, param: str, code: str = "invalid_request") -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == code
    assert error["param"] == param
    assert f"`{param}`" in error["message"]
    return error


@pytest.mark.parametrize(
    ("fields", "param", "expected"),
    [
        ({"max_tokens": "10"}, "max_tokens", "not a string"),
        ({"max_completion_tokens": "10"}, "max_completion_tokens", "not a string"),
        ({"temperature": "0.5"}, "temperature", "not a string"),
        ({"top_p": "0.5"}, "top_p", "not a string"),
        ({"presence_penalty": "1"}, "presence_penalty", "not a string"),
        ({"frequency_penalty": "1"}, "frequency_penalty", "not a string"),
        ({"n": "2"}, "n", "not a string"),
        ({"seed": "7"}, "seed", "not a string"),
        ({"seed": 7.5}, "seed", "valid integer"),
        ({"max_tokens": 10.0}, "max_tokens", "valid integer"),
        ({"max_tokens": True}, "max_tokens", "valid integer"),
        ({"thinking": {"enabled": "yes"}}, "thinking.enabled", "not a string"),
        ({"thinking": {"budget_tokens": "1024"}}, "thinking.budget_tokens", "not a string"),
        ({"thinking": {"budget_tokens": 1e30}}, "thinking.budget_tokens", "valid integer"),
        ({"stream": True, "stream_options": {"include_usage": 1}}, "stream_options.include_usage", "boolean"),
        ({"parallel_tool_calls": "false"}, "parallel_tool_calls", "not a string"),
        ({"dry_run": "true"}, "dry_run", "not a string"),
    ],
)
def test_typed_field_of_wrong_type_is_400(stack: RunningStack, fields: dict, param: str, expected: str) -> None:
    marker = unique("typed")
    body = {"model": MODEL, "messages": [{"role": "user", "content": marker}], **fields}

    error = assert_rejected(post(stack, body), param)

    assert expected in error["message"]
    assert stack.received_with(marker) == []


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_number_is_400(stack: RunningStack, literal: str) -> None:
    marker = unique("finite")
    raw = f'{{"model": "{MODEL}", "messages": [{{"role": "user", "content": "{marker}"}}], "temperature": {literal}}}'
    with stack.http() as http:
        response = http.post(
            "/v1/chat/completions",
            content=raw.encode(),
            headers={"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"},
        )

    error = assert_rejected(response, "temperature")
    assert "finite number" in error["message"]
    assert stack.received_with(marker) == []


def test_integer_for_a_number_field_is_accepted(stack: RunningStack) -> None:
    marker = unique("integer-number")
    body = {"model": MODEL, "messages": [{"role": "user", "content": marker}], "temperature": 1, "top_p": 1}

    response = post(stack, body)

    assert response.status_code == 200, response.text
    assert len(stack.received_with(marker)) == 1
