"""`usage.cost` in responses: added to the body and to the stream's usage chunk as exact decimal strings."""

from __future__ import annotations

from decimal import Decimal

import orjson

from gateway_contracts import CostBreakdown
from gateway_router.billing import body_with_cost, chunk_with_cost, cost_json

COST = CostBreakdown(input=Decimal("1E-7"), output=Decimal("0.0000024"), total=Decimal("0.0000025"))


def test_cost_parts_are_fixed_point_strings() -> None:
    document = cost_json(COST)

    assert document["input"] == "0.0000001"
    assert document["total"] == "0.0000025"
    assert document["request"] == "0"
    assert "estimated" not in document
    assert cost_json(COST.model_copy(update={"estimated": True}))["estimated"] is True


def test_body_gets_cost_inside_usage() -> None:
    body = b'{"id":"c1","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":4,"total_tokens":5}}'

    completion = orjson.loads(body_with_cost(body, COST))

    assert completion["usage"]["prompt_tokens"] == 1
    assert completion["usage"]["cost"]["total"] == "0.0000025"


def test_body_cost_from_parsed_document() -> None:
    body = b'{"id":"c1","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":4,"total_tokens":5}}'

    from_document = body_with_cost(body, COST, orjson.loads(body))

    assert from_document == body_with_cost(body, COST)
    assert orjson.loads(from_document)["usage"]["cost"]["total"] == "0.0000025"


def test_body_without_usage_is_unchanged() -> None:
    body = b'{"id":"c1","choices":[]}'

    assert body_with_cost(body, COST) == body


def test_usage_chunk_gets_cost() -> None:
    chunk = {"choices": [], "usage": {"prompt_tokens": 1}}

    assert orjson.loads(chunk_with_cost(chunk, COST))["usage"]["cost"]["output"] == "0.0000024"
