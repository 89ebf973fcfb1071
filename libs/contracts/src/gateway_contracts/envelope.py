"""The fields that every public event carries, and how its trace id is chosen.

Readers ignore fields they do not know (`extra="ignore"`), so that a producer
can add an optional field without breaking a subscriber that runs an older
release of this library. Producers build events with `model_construct` on the
request path and serialize them once; subscribers validate what they receive.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

# W3C trace context: 16 bytes as 32 lowercase hex digits, not all zero.
TRACE_ID_PATTERN = r"^[0-9a-f]{32}$"
_EDGE_REQUEST_ID = re.compile(r"^req_([0-9a-f]{32})$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_ZERO_TRACE = "0" * 32


class EventEnvelope(BaseModel):
    """Fields common to every public event; subclasses fix `schema_name` and `schema_version`."""

    model_config = ConfigDict(extra="ignore")

    # The subject the event is published on, filled in by each subclass.
    subject: ClassVar[str]

    schema_name: str
    schema_version: int
    # The `Nats-Msg-Id` the event was published with; subscribers deduplicate on it.
    event_id: str
    # The gateway request that caused the event: a chat completion, or an admin API call.
    request_id: str
    # None only for events that concern no single project, such as catalog changes.
    project_id: str | None
    occurred_at: datetime
    trace_id: str = Field(pattern=TRACE_ID_PATTERN)


def trace_id_for(request_id: str, traceparent: str | None = None) -> str:
    """Choose the trace id of an event caused by `request_id`.

    With tracing on, the request's W3C `traceparent` names the trace. Without
    one, the id is derived from the request id (the edge's `req_<32 hex>` ids
    give their hex digits), so that every event of one request carries the
    same trace id either way.
    """
    if traceparent is not None:
        match = _TRACEPARENT.match(traceparent)
        if match is not None and match.group(1) != _ZERO_TRACE:
            return match.group(1)
    match = _EDGE_REQUEST_ID.match(request_id)
    if match is not None and match.group(1) != _ZERO_TRACE:
        return match.group(1)
    return hashlib.sha256(request_id.encode()).hexdigest()[:32]
