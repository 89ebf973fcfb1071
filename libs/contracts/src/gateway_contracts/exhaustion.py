"""`budget.exhausted` once per cap and budget day, from accounting and from every edge replica.

A cap is a project's, or one API key's (`key_id` set).

Accounting publishes it when the recorded spend reaches the cap, and an edge
when it rejects a request with 402 because the project's cap cannot cover
it. Both use the same `event_id`, so JetStream drops a copy published within
the stream's duplicate window. A marker key in `bus.LEDGER_BUCKET`, created
after the publish, stops later copies. A crash between the publish and the
marker may publish the event once more, with the same `event_id`.
"""

from __future__ import annotations

from datetime import date

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from gateway_contracts.public_events import BudgetExhausted
from gateway_contracts.publishing import publish_event
from gateway_contracts.records import ledger_key


def exhausted_event_id(project_id: str, day: date, key_id: str | None = None) -> str:
    cap = f":{key_id}" if key_id else ""
    return f"budget.exhausted:{project_id}:{day.isoformat()}{cap}"


def exhausted_marker_key(project_id: str, day: date, key_id: str | None = None) -> str:
    """Return the `bus.LEDGER_BUCKET` key that marks the day's `budget.exhausted` of the cap as published."""
    cap = f".{key_id}" if key_id else ""
    return f"{ledger_key(project_id, day)}.exhausted{cap}"


async def already_announced(ledger: KeyValue, project_id: str, day: date, key_id: str | None = None) -> bool:
    try:
        await ledger.get(exhausted_marker_key(project_id, day, key_id))
    except KeyNotFoundError:
        return False
    return True


async def announce_exhausted(js: JetStreamContext, ledger: KeyValue, event: BudgetExhausted) -> bool:
    """Publish `event` unless the day's marker exists, then create the marker; return whether it was published."""
    assert event.project_id is not None
    if await already_announced(ledger, event.project_id, event.day, event.key_id):
        return False
    await publish_event(js, event)
    try:
        await ledger.create(exhausted_marker_key(event.project_id, event.day, event.key_id), b"")
    except KeyWrongLastSequenceError:
        # Another process published it at the same moment; JetStream kept one copy.
        pass
    return True
