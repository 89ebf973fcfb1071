"""Build and publish public events from a service.

Needs the `nats` extra.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from nats.js import JetStreamContext

from gateway_contracts.envelope import EventEnvelope
from gateway_contracts.telemetry import REQUEST_ID, current_trace_id, trace_headers

Event = TypeVar("Event", bound=EventEnvelope)

# Seconds to wait for JetStream to store an event before the publish raises.
PUBLISH_TIMEOUT_SECONDS = 5.0


def build_event(
    event_class: type[Event],
    /,
    *,
    event_id: str,
    project_id: str | None,
    request_id: str | None = None,
    trace_id: str | None = None,
    occurred_at: datetime | None = None,
    **fields: Any,
) -> Event:
    """Build an event from values the service already holds, without validating them again.

    `request_id` defaults to the request being handled (`REQUEST_ID`), or a
    new id when the change has no request, and `trace_id` to the current
    trace. Nested models must be passed as model instances.
    """
    request_id = request_id or REQUEST_ID.get() or f"req_{uuid.uuid4().hex}"
    return event_class.model_construct(
        event_id=event_id,
        request_id=request_id,
        project_id=project_id,
        occurred_at=occurred_at or datetime.now(UTC),
        trace_id=trace_id or current_trace_id(request_id),
        **fields,
    )


async def publish_event(js: JetStreamContext, event: EventEnvelope, subject: str | None = None) -> None:
    """Publish `event` and wait for JetStream to store it; `subject` overrides the model's own.

    The `Nats-Msg-Id` is the event id, so publishing the same event again
    within the stream's duplicate window stores it once.
    """
    headers = trace_headers({"Nats-Msg-Id": event.event_id})
    payload = event.model_dump_json().encode()
    await js.publish(subject or event.subject, payload, timeout=PUBLISH_TIMEOUT_SECONDS, headers=headers)
