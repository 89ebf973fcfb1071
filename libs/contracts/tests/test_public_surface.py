"""The contracts library's public surface, its error table and its wire helpers."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import gateway_contracts
from gateway_contracts import (
    ERROR_CODES,
    ERROR_KINDS,
    ERROR_TYPES,
    CatalogEntry,
    FrameKind,
    Price,
    catalog_key,
    decode_dispatch,
    encode_chunks_frame,
    encode_dispatch,
    error_body,
    split_chunks,
)
from gateway_contracts.rpc import BootstrapReply, RpcError, encode_error, parse_reply
from gateway_contracts.schema import EXPORTED, write_schemas


def test_every_exported_name_exists() -> None:
    for name in gateway_contracts.__all__:
        assert hasattr(gateway_contracts, name), name


def test_every_error_code_has_a_status_and_type() -> None:
    assert set(ERROR_KINDS) == ERROR_CODES
    for status, kind in ERROR_KINDS.values():
        assert 400 <= status < 600
        assert kind in ERROR_TYPES


def test_error_body_has_openai_shape() -> None:
    assert error_body("model_not_found", "No such model.", "model") == {
        "error": {"message": "No such model.", "type": "not_found_error", "param": "model", "code": "model_not_found"}
    }


def test_budget_error_states_its_numbers() -> None:
    budget = {"cap_usd": "1", "spent_usd": "0.99", "resets_at": "2025-06-02T00:00:00Z"}

    body = error_body("budget_exceeded", "Daily budget exceeded.", budget=budget)

    assert body == {
        "error": {
            "message": "Daily budget exceeded.",
            "type": "budget_exceeded",
            "param": None,
            "code": "budget_exceeded",
            "budget": budget,
        }
    }


def test_dispatch_round_trip_keeps_body_bytes() -> None:
    body = b'{"model": "a/b",\n "messages": []}'
    meta = {
        "request_id": "r1",
        "project_id": "p",
        "key_id": "k",
        "model": "a/b",
        "stream": False,
        "include_usage": False,
        "received_at": 1.5,
    }

    decoded_meta, decoded_body = decode_dispatch(encode_dispatch(meta, body))

    assert decoded_meta == meta
    assert decoded_body == body


def test_frame_kinds_are_single_distinct_bytes() -> None:
    values = [kind.value for kind in FrameKind]
    assert len(set(values)) == len(values)
    assert all(0 < value < 256 for value in values)


def test_catalog_key_escapes_only_what_kv_rejects() -> None:
    assert catalog_key("openai/gpt-4.1-mini") == "openai/gpt-4.1-mini"
    assert catalog_key("ollama/llama3:8b") == "ollama/llama3=3A8b"
    assert catalog_key("a=b") == "a=3Db"
    assert catalog_key("x/ü") == "x/=C3=BC"


def test_price_in_force_on_a_day() -> None:
    entry = CatalogEntry(
        id="a/b",
        provider="a",
        upstream_name="b",
        prices=[
            Price(effective_from=date(2025, 6, 1), input=Decimal("2")),
            Price(effective_from=date(2025, 1, 1), input=Decimal("1")),
        ],
    )

    assert entry.price_at(date(2024, 12, 31)) is None
    assert entry.price_at(date(2025, 1, 1)).input == Decimal("1")
    assert entry.price_at(date(2025, 5, 31)).input == Decimal("1")
    assert entry.price_at(date(2025, 6, 1)).input == Decimal("2")


def test_rpc_reply_or_error() -> None:
    ok = parse_reply(b'{"created": false, "project_id": "p"}', BootstrapReply)
    failed = parse_reply(encode_error("not_found", "No such project."), BootstrapReply)

    assert ok == BootstrapReply(created=False, project_id="p")
    assert failed == RpcError(code="not_found", message="No such project.")


def test_schema_export_writes_valid_json(tmp_path: Path) -> None:
    written = write_schemas(tmp_path)

    assert len(written) == len(EXPORTED)
    for path in written:
        assert json.loads(path.read_text())["title"] == path.stem


def test_chunks_frame_round_trip() -> None:
    chunks = [b'{"id":"a","choices":[{"delta":{"content":"line\\nbreak"}}]}', b'{"id":"a","choices":[]}']

    frame = encode_chunks_frame(chunks)

    assert frame[0] == FrameKind.CHUNKS
    assert split_chunks(frame[1:]) == chunks
