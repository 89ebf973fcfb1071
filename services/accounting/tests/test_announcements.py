"""`usage.recorded` payloads encoded by msgspec equal the contract model's JSON."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest
from nats.aio.msg import Msg

from gateway_accounting.announcements import (
    _RecordedCostJson,
    _UsageRecordedJson,
    usage_recorded,
    usage_recorded_batch,
)
from gateway_accounting.decoding import decode_usage
from gateway_contracts import CostBreakdown, TokenUsage, UsageEvent
from gateway_contracts.public_events import RecordedCost, UsageRecorded

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _event(**fields: object) -> UsageEvent:
    started = datetime(2026, 3, 14, 23, 59, 59, 123456, tzinfo=UTC)
    values: dict[str, object] = {
        "request_id": f"req_{uuid.uuid4().hex}",
        "project_id": "proj_a",
        "key_id": "key_a",
        "model": "openai/gpt-4o-mini",
        "provider": "openai",
        "upstream_model": "gpt-4o-mini",
        "status": "ok",
        "http_status": 200,
        "stream": False,
        "usage": TokenUsage(prompt_tokens=120, completion_tokens=40, total_tokens=160, cached_tokens=20),
        "cost": CostBreakdown(input=Decimal("1E-7"), output=Decimal("0.000012"), total=Decimal("0.0000121")),
        "started_at": started,
        "finished_at": started + timedelta(milliseconds=250),
        "latency_ms": 250.0,
        **fields,
    }
    return UsageEvent.model_validate(values)


def _message(headers: dict[str, str] | None) -> Msg:
    return Msg(None, subject="gateway.events.usage.v1", data=b"", headers=headers)  # type: ignore[arg-type]


def test_payload_fields_match_contract() -> None:
    assert set(_UsageRecordedJson.__struct_fields__) == set(UsageRecorded.model_fields)
    assert set(_RecordedCostJson.__struct_fields__) == set(RecordedCost.model_fields)


@pytest.mark.parametrize(
    ("fields", "headers"),
    [
        ({}, None),
        ({}, {"traceparent": TRACEPARENT}),
        ({"status": "error", "http_status": 429, "error_code": "rate_limited", "ttft_ms": None}, None),
        ({"session_id": "sess_1", "emulated": True, "stream": True, "ttft_ms": 12.0}, None),
        ({"started_at": datetime(2026, 3, 15, 1, 30, tzinfo=timezone(timedelta(hours=2)))}, None),
        ({"request_id": "custom-request-id"}, None),
        ({"cost": CostBreakdown(input=Decimal("0E-7"), request=Decimal("1E+2"), total=Decimal("100.00"))}, None),
    ],
)
def test_payload_equals_contract_json(fields: dict[str, object], headers: dict[str, str] | None) -> None:
    event = _event(**fields)
    message = _message(headers)
    traceparent = headers.get("traceparent") if headers else None
    expected = usage_recorded(event, traceparent)

    [(event_id, payload)] = usage_recorded_batch([(message, decode_usage(event.model_dump_json().encode()))])

    assert event_id == expected.event_id
    assert orjson.loads(payload) == orjson.loads(expected.model_dump_json())
    assert UsageRecorded.model_validate_json(payload) == expected
