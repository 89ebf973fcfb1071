"""Every event schema with its version, subject, stream and publisher, and `decode_event`.

Public events name their schema and version in the payload. The three
internal events that predate them (`events.UsageEvent`,
`events.SessionTurnsEvent`, `events.BudgetThresholdEvent`) carry only
`schema_version`, so `decode_event` identifies them by subject; they are
listed here under `internal.` names so that their schemas are generated and
checked too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel

from gateway_contracts import bus, events, public_events
from gateway_contracts.envelope import EventEnvelope


@dataclass(frozen=True, slots=True)
class EventType:
    schema_name: str
    schema_version: int
    model: type[BaseModel]
    # The subject, or for per-session subjects the wildcard that matches them all.
    subject: str
    stream: bus.StreamSpec
    publisher: str
    summary: str
    # False for the events that services send each other; their shape may
    # change with a new version without a deprecation period.
    public: bool = True

    @property
    def key(self) -> str:
        return f"{self.schema_name}.v{self.schema_version}"


def _public(model: type[EventEnvelope], stream: bus.StreamSpec, publisher: str) -> EventType:
    fields = model.model_fields
    summary = (model.__doc__ or "").strip().splitlines()[0]
    return EventType(
        schema_name=fields["schema_name"].default,
        schema_version=fields["schema_version"].default,
        model=model,
        subject=model.subject,
        stream=stream,
        publisher=publisher,
        summary=summary,
    )


EVENT_TYPES: tuple[EventType, ...] = (
    _public(public_events.UsageRecorded, bus.USAGE_STREAM, "accounting"),
    _public(public_events.BudgetThresholdCrossed, bus.BUDGET_STREAM, "accounting"),
    _public(public_events.BudgetExhausted, bus.BUDGET_STREAM, "accounting"),
    _public(public_events.SessionTurnAppended, bus.SESSION_STREAM, "sessions"),
    _public(public_events.SessionDeleted, bus.SESSION_STREAM, "sessions"),
    _public(public_events.ApiKeyCreated, bus.ACCOUNTS_STREAM, "accounting"),
    _public(public_events.ApiKeyRevoked, bus.ACCOUNTS_STREAM, "accounting"),
    _public(public_events.ProjectBudgetChanged, bus.ACCOUNTS_STREAM, "accounting"),
    _public(public_events.CatalogEntryChanged, bus.CATALOG_STREAM, "catalog"),
    EventType(
        "internal.usage", 1, events.UsageEvent, bus.USAGE_EVENT_SUBJECT, bus.USAGE_STREAM, "router",
        "A finished request, for accounting; version 1 lacks the reservation fields.", public=False,
    ),
    EventType(
        "internal.usage", 2, events.UsageEvent, bus.USAGE_EVENT_SUBJECT, bus.USAGE_STREAM, "router",
        "A finished request, for accounting.", public=False,
    ),
    EventType(
        "internal.session_turns", 2, events.SessionTurnsEvent, bus.SESSION_EVENT_SUBJECTS, bus.SESSION_STREAM,
        "router", "The new messages of one request on a session, for the sessions service.", public=False,
    ),
    EventType(
        "internal.budget_threshold", 1, events.BudgetThresholdEvent, bus.BUDGET_EVENT_SUBJECT, bus.BUDGET_STREAM,
        "accounting", "The first version of the threshold event; use `budget.threshold_crossed`.", public=False,
    ),
)  # fmt: skip

_BY_KEY = {(event_type.schema_name, event_type.schema_version): event_type for event_type in EVENT_TYPES}
_INTERNAL_BY_SUBJECT = {
    bus.USAGE_EVENT_SUBJECT: "internal.usage",
    bus.BUDGET_EVENT_SUBJECT: "internal.budget_threshold",
}


class InvalidEvent(ValueError):
    """Raised for a message that is not a JSON object, so no schema can be read from it."""


class UnknownEvent(InvalidEvent):
    """Raised for a message whose schema name and version this release of the library does not know."""


def event_type(schema_name: str, schema_version: int) -> EventType:
    """Return the registered event type; raises `UnknownEvent` when there is none."""
    found = _BY_KEY.get((schema_name, schema_version))
    if found is None:
        raise UnknownEvent(
            f"Unknown event schema `{schema_name}` version {schema_version}; "
            "upgrade gateway-contracts, or skip the message."
        )
    return found


def decode_event(data: bytes | str, subject: str | None = None) -> BaseModel:
    """Validate a message into the model of its schema name and version.

    `subject` is needed only for the internal events, whose payloads do not
    name their schema. Raises `InvalidEvent` for a payload that is not a
    JSON object, its subclass `UnknownEvent` for a schema this release does
    not know, and `pydantic.ValidationError` for a payload that does not
    match its schema. All three are `ValueError`s.
    """
    where = f"The message on `{subject}`" if subject else "The message"
    try:
        document: Any = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise InvalidEvent(f"{where} is not JSON ({error}); skip it.") from None
    if not isinstance(document, dict):
        kind = _JSON_KINDS.get(type(document), type(document).__name__)
        raise InvalidEvent(f"{where} is a JSON {kind}, not an object; skip it.")
    schema_name = document.get("schema_name") or _internal_name(subject)
    schema_version = document.get("schema_version")
    if not isinstance(schema_name, str):
        raise UnknownEvent(f"{where} names no schema: `schema_name` is missing or not a string; skip it.")
    if not isinstance(schema_version, int) or isinstance(schema_version, bool):
        raise UnknownEvent(
            f"{where} has `schema_version` {schema_version!r}; an integer such as 1 is expected; skip it."
        )
    return event_type(schema_name, schema_version).model.model_validate(document)


# JSON's names for the values that orjson returns.
_JSON_KINDS: dict[type, str] = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
_JSON_KINDS[type(None)] = "null"


def _internal_name(subject: str | None) -> str | None:
    if subject is None:
        return None
    if subject.startswith(f"{bus.SESSION_EVENT_PREFIX}."):
        return "internal.session_turns"
    return _INTERNAL_BY_SUBJECT.get(subject)
