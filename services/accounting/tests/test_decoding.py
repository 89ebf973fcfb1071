"""The msgspec structs accept and reject usage events as the pydantic contract does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import orjson
import pytest
from pydantic import BaseModel

from gateway_accounting.decoding import CostParts, InvalidUsageEvent, TokenCounts, UsageRecord, decode_usage
from gateway_contracts import CostBreakdown, TokenUsage, UsageEvent


def _event(**fields: object) -> UsageEvent:
    now = datetime.now(UTC)
    values: dict[str, object] = {
        "request_id": f"req_{uuid.uuid4().hex}",
        "project_id": "proj_a",
        "key_id": "key_a",
        "model": "openai/gpt-4o-mini",
        "provider": "openai",
        "upstream_model": "gpt-4o-mini",
        "status": "ok",
        "http_status": 200,
        "stream": True,
        "usage": TokenUsage(prompt_tokens=120, completion_tokens=40, total_tokens=160, reasoning_tokens=7),
        "cost": CostBreakdown(input=Decimal("1E-7"), output=Decimal("0.000012"), total=Decimal("0.0000121")),
        "started_at": now,
        "finished_at": now,
        "latency_ms": 12.5,
        "ttft_ms": 3.25,
        "reserved_project_usd": Decimal("0.5"),
        **fields,
    }
    return UsageEvent.model_validate(values)


def _defaults(model: type[BaseModel]) -> dict[str, object]:
    return {name: field.default for name, field in model.model_fields.items() if not field.is_required()}


def _struct_defaults(struct: type[msgspec.Struct]) -> dict[str, object]:
    info = msgspec.inspect.type_info(struct)
    return {field.name: field.default for field in info.fields if not field.required}


@pytest.mark.parametrize(
    ("contract", "struct"), [(UsageEvent, UsageRecord), (TokenUsage, TokenCounts), (CostBreakdown, CostParts)]
)
def test_structs_match_contract_fields(contract: type[BaseModel], struct: type[msgspec.Struct]) -> None:
    assert set(struct.__struct_fields__) == set(contract.model_fields)
    assert _struct_defaults(struct) == _defaults(contract)


def test_decoded_event_equals_contract() -> None:
    event = _event(error_code="rate_limited", session_id="sess_1", status="error", http_status=429)

    record = decode_usage(event.model_dump_json().encode())

    assert msgspec.to_builtins(record, builtin_types=(datetime, Decimal)) == event.model_dump(mode="python")


def test_lax_value_goes_through_contract() -> None:
    payload = orjson.loads(_event().model_dump_json())
    payload["http_status"] = "200"

    record = decode_usage(orjson.dumps(payload))

    assert record.http_status == 200


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("reserved_key_usd",), "-1"),
        (("reserved_project_usd",), "NaN"),
        (("cost", "total"), "Infinity"),
        (("cost", "cached_input"), "NaN"),
        (("usage", "prompt_tokens"), -1),
        (("latency_ms",), -0.5),
        (("status",), "unknown"),
        (("schema_version",), 3),
        (("cost", "currency"), "EUR"),
        (("surprise",), 1),
    ],
)
def test_invalid_event_rejected(path: tuple[str, ...], value: object) -> None:
    payload = orjson.loads(_event().model_dump_json())
    target = payload
    for name in path[:-1]:
        target = target[name]
    target[path[-1]] = value

    with pytest.raises(InvalidUsageEvent):
        decode_usage(orjson.dumps(payload))


def test_missing_field_rejected() -> None:
    payload = orjson.loads(_event().model_dump_json())
    del payload["project_id"]

    with pytest.raises(InvalidUsageEvent):
        decode_usage(orjson.dumps(payload))


def test_malformed_json_rejected() -> None:
    with pytest.raises(InvalidUsageEvent):
        decode_usage(b'{"request_id": ')
