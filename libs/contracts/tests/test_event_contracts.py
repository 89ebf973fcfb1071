"""Public event models: stored examples of every version, the envelope, and what events may carry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway_contracts import bus
from gateway_contracts.envelope import EventEnvelope, trace_id_for
from gateway_contracts.public_events import CatalogEntryChanged, SessionTurnAppended, UsageRecorded
from gateway_contracts.registry import EVENT_TYPES, InvalidEvent, UnknownEvent, decode_event, event_type

FIXTURES = Path(__file__).parent / "fixtures" / "events"
PUBLIC = [event_type for event_type in EVENT_TYPES if event_type.public]
ENVELOPE_FIELDS = {"schema_name", "schema_version", "event_id", "request_id", "project_id", "occurred_at", "trace_id"}
# Property names that would carry a secret or a digest of one.
SECRET_WORDS = ("secret", "password", "hash", "sha256", "authorization", "credential")


def fixture(key: str) -> bytes:
    return (FIXTURES / f"{key}.json").read_bytes()


def subject_of(key: str) -> str:
    """Return a subject that the event version with `key` is published on."""
    name, version = key.rsplit(".v", 1)
    return event_type(name, int(version)).subject.replace(">", "0123abcd")


@pytest.mark.parametrize("event", EVENT_TYPES, ids=lambda event: event.key)
def test_every_version_has_a_stored_example(event) -> None:
    assert (FIXTURES / f"{event.key}.json").exists()


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda path: path.stem)
def test_stored_example_decodes_with_todays_models(path: Path) -> None:
    name, version = path.stem.rsplit(".v", 1)
    expected = event_type(name, int(version))

    decoded = decode_event(path.read_bytes(), subject_of(path.stem))

    assert type(decoded) is expected.model
    assert decoded.model_dump(mode="json", exclude_unset=True) == json.loads(path.read_text())


@pytest.mark.parametrize("event", PUBLIC, ids=lambda event: event.key)
def test_public_event_carries_the_envelope(event) -> None:
    assert issubclass(event.model, EventEnvelope)
    assert ENVELOPE_FIELDS <= event.model.model_fields.keys()
    required = {name for name, field in event.model.model_fields.items() if field.is_required()}
    assert {"event_id", "request_id", "occurred_at", "trace_id"} <= required
    assert event.subject.startswith("gateway.events.")
    assert any(_matches(pattern, event.subject) for pattern in event.stream.subjects)


def _matches(pattern: str, subject: str) -> bool:
    return subject.startswith(pattern.removesuffix(">"))


@pytest.mark.parametrize("event", PUBLIC, ids=lambda event: event.key)
def test_public_event_has_no_secret_field(event) -> None:
    names = _property_names(event.model.model_json_schema())

    for name in names:
        assert not any(word in name.lower() for word in SECRET_WORDS), name
    assert "key_id" in names or event.key != "api_key.created.v1"


def _property_names(schema: object) -> set[str]:
    if isinstance(schema, list):
        return {name for item in schema for name in _property_names(item)}
    if not isinstance(schema, dict):
        return set()
    names = set(schema.get("properties", {}))
    return names | {name for value in schema.values() for name in _property_names(value)}


def test_only_turn_events_carry_message_content() -> None:
    carriers = {
        event.key for event in PUBLIC if {"message", "messages", "content", "turns"} & event.model.model_fields.keys()
    }
    assert carriers == {"session.turn_appended.v1"}
    assert SessionTurnAppended.model_fields["message"].default is None


def test_public_event_ignores_unknown_fields() -> None:
    document = json.loads(fixture("usage.recorded.v1"))
    document["added_later"] = {"nested": True}
    document["cost"]["added_later"] = "1"

    decoded = decode_event(json.dumps(document))

    assert isinstance(decoded, UsageRecorded)
    assert "added_later" not in decoded.model_dump()


def test_decode_rejects_an_unknown_version() -> None:
    document = json.loads(fixture("usage.recorded.v1"))
    document["schema_version"] = 99

    with pytest.raises(UnknownEvent, match=r"`usage.recorded` version 99"):
        decode_event(json.dumps(document))


def test_decode_needs_the_subject_for_internal_events() -> None:
    with pytest.raises(UnknownEvent, match="names no schema"):
        decode_event(fixture("internal.usage.v2"))

    assert decode_event(fixture("internal.usage.v2"), bus.USAGE_EVENT_SUBJECT).request_id.startswith("req_")


def test_decode_rejects_bytes_that_are_not_json() -> None:
    for payload in (b"\xff\xfenot json", b"", '{"schema_name": '):
        with pytest.raises(InvalidEvent, match="is not JSON"):
            decode_event(payload, bus.USAGE_RECORDED_SUBJECT)


def test_decode_rejects_json_that_is_no_object() -> None:
    with pytest.raises(InvalidEvent, match="JSON array, not an object"):
        decode_event(b"[1, 2]", bus.USAGE_RECORDED_SUBJECT)
    with pytest.raises(InvalidEvent, match=r"^The message is a JSON null"):
        decode_event(b"null")


def test_decode_names_a_version_of_the_wrong_type() -> None:
    with pytest.raises(UnknownEvent, match="`schema_version` '1'; an integer"):
        decode_event(b'{"schema_name": "usage.recorded", "schema_version": "1"}')


def test_unknown_event_is_an_invalid_event() -> None:
    assert issubclass(UnknownEvent, InvalidEvent)
    assert issubclass(InvalidEvent, ValueError)


def test_decode_rejects_a_payload_that_breaks_its_schema() -> None:
    document = json.loads(fixture("catalog.entry_changed.v1"))
    document["change"] = "renamed"

    with pytest.raises(ValidationError):
        decode_event(json.dumps(document))


def test_catalog_event_concerns_no_project() -> None:
    decoded = decode_event(fixture("catalog.entry_changed.v1"))

    assert isinstance(decoded, CatalogEntryChanged)
    assert decoded.project_id is None


def test_trace_id_prefers_the_traceparent() -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    assert trace_id_for("req_4bf92f3577b34da6a3ce929d0e0e4736", traceparent) == "0af7651916cd43dd8448eb211c80319c"


def test_trace_id_comes_from_an_edge_request_id() -> None:
    assert trace_id_for("req_4bf92f3577b34da6a3ce929d0e0e4736") == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_trace_id_of_another_request_id_is_stable() -> None:
    first = trace_id_for("cli-bootstrap")

    assert first == trace_id_for("cli-bootstrap", "not a traceparent")
    assert len(first) == 32
    assert first != trace_id_for("cli-bootstrap-2")
