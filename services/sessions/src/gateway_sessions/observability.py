"""The sessions service's metrics, and the span of each session event it stores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nats.aio.msg import Msg
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Histogram

from gateway_contracts import bus
from gateway_contracts.telemetry import context_from_headers, tracer, tracing_enabled

_tracer = tracer("gateway_sessions")

SESSION_EVENTS = Counter(
    "gateway_session_events",
    "Session events taken from JetStream, by outcome: stored, or invalid (terminated).",
    ["outcome"],
)
TURNS_STORED = Counter("gateway_session_turns_stored", "Turns added to session histories; redelivered turns add none.")
FETCH_SIZE = Histogram(
    "gateway_session_fetch_size",
    "Session events per fetch from the durable consumer.",
    buckets=(1, 2, 5, 10, 20, 50, 100),
)


@contextmanager
def event_span(message: Msg) -> Iterator[None]:
    """Run the block in a span of the event's own trace, when tracing is on and the event carries trace context."""
    context = context_from_headers(message.headers) if tracing_enabled() else None
    if context is None:
        yield
        return
    # Named after the subjects' common prefix, because each session has a subject of its own.
    with _tracer.start_as_current_span(
        f"process {bus.SESSION_EVENT_PREFIX}",
        context=context,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "nats",
            "messaging.operation.type": "process",
            "messaging.destination.name": message.subject,
            "messaging.destination.template": bus.SESSION_EVENT_PREFIX,
            "messaging.consumer.group.name": bus.SESSIONS_TURNS_CONSUMER,
        },
    ):
        yield
