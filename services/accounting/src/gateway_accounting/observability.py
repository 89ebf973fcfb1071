"""Accounting's metrics, and the spans of its usage batches.

A batch of usage events gets one consumer span, linked to the producer spans
of its events (up to the SDK's link limit, 128 by default). Each event whose
message carries trace context also gets a short span in its request's trace,
from the moment the batch took it to its ack, linked to the batch span: that
is how one request's trace reaches accounting.

Token and cost counters count each request once, when its usage record is
new in PostgreSQL, under its project (unless project labels are off) and its
model (a catalog id, or `other`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from nats.aio.msg import Msg
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind
from prometheus_client import Counter, Gauge, Histogram

from gateway_accounting.decoding import Usage
from gateway_contracts import CatalogEntry, bus, catalog_key
from gateway_contracts.kv import BucketMirror
from gateway_contracts.metrics import OTHER
from gateway_contracts.telemetry import context_from_headers, tracer, tracing_enabled

_tracer = tracer("gateway_accounting")

_BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
_WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

USAGE_EVENTS = Counter(
    "gateway_usage_events",
    "Usage events taken from JetStream, by outcome: recorded (new), duplicate (recorded before) or invalid.",
    ["outcome"],
)
TOKENS = Counter(
    "gateway_tokens",
    "Tokens of recorded requests, by project, model and type (input or output).",
    ["project", "model", "type"],
)
# A float, as every Prometheus sample is: for dashboards and alerts only. The
# exact amounts are the Decimal values in PostgreSQL and ClickHouse.
COST = Counter("gateway_cost_usd", "Cost of recorded requests in USD, by project and model.", ["project", "model"])
BATCH_SIZE = Histogram(
    "gateway_ingest_batch_size", "Usage events per batch written to PostgreSQL.", buckets=_BATCH_SIZE_BUCKETS
)
BATCH_WRITE = Histogram(
    "gateway_ingest_write_duration_seconds",
    "Time to write one batch of usage events to PostgreSQL in one transaction.",
    buckets=_WRITE_BUCKETS,
)
CLICKHOUSE_INSERT = Histogram(
    "gateway_clickhouse_insert_duration_seconds",
    "Time to insert one outbox block of usage rows into ClickHouse.",
    buckets=_WRITE_BUCKETS,
)
CLICKHOUSE_FAILURES = Counter(
    "gateway_clickhouse_insert_failures", "Outbox blocks whose insert into ClickHouse failed and will be retried."
)
OUTBOX_REJECTED_BLOCKS = Counter(
    "gateway_analytics_outbox_rejected_blocks",
    "Outbox blocks that ClickHouse kept rejecting, moved to accounting.analytics_rejected.",
)
OUTBOX_BLOCKS = Gauge(
    "gateway_analytics_outbox_blocks", "Blocks of usage rows committed in PostgreSQL and not yet in ClickHouse."
)

_SUBJECT = bus.USAGE_EVENT_SUBJECT
_MESSAGING = {
    "messaging.system": "nats",
    "messaging.operation.type": "process",
    "messaging.destination.name": _SUBJECT,
    "messaging.consumer.group.name": bus.ACCOUNTING_USAGE_CONSUMER,
}


def count_recorded(events: Sequence[Usage], catalog: BucketMirror[CatalogEntry], project_labels: bool) -> None:
    """Add the tokens and cost of newly recorded events to the counters, one increment per label set."""
    known: dict[str, str] = {}
    totals: dict[tuple[str, str], list[Any]] = {}
    for event in events:
        model = known.get(event.model)
        if model is None:
            model = event.model if catalog.get(catalog_key(event.model)) is not None else OTHER
            known[event.model] = model
        labels = (event.project_id if project_labels else "", model)
        total = totals.get(labels)
        if total is None:
            total = totals[labels] = [0, 0, Decimal(0)]
        total[0] += event.usage.prompt_tokens
        total[1] += event.usage.completion_tokens
        total[2] += event.cost.total
    for (project, model), (prompt_tokens, completion_tokens, cost) in totals.items():
        TOKENS.labels(project, model, "input").inc(prompt_tokens)
        TOKENS.labels(project, model, "output").inc(completion_tokens)
        COST.labels(project, model).inc(float(cost))


@contextmanager
def batch_spans(messages: Sequence[Msg]) -> Iterator[None]:
    """Trace one batch: a span for the batch, and one in each event's own trace, all ended when the block ends."""
    if not tracing_enabled():
        yield
        return

    contexts = [context_from_headers(message.headers) for message in messages]
    links = [Link(trace.get_current_span(context).get_span_context()) for context in contexts if context is not None]
    with _tracer.start_as_current_span(
        f"process {_SUBJECT} batch",
        kind=SpanKind.CONSUMER,
        links=links,
        attributes={**_MESSAGING, "messaging.batch.message_count": len(messages)},
    ) as batch:
        per_event = _event_spans(messages, contexts, batch)
        try:
            yield
        finally:
            for span in per_event:
                span.end()


def _event_spans(messages: Sequence[Msg], contexts: list[Context | None], batch: Span) -> list[Span]:
    link = [Link(batch.get_span_context())]
    spans = []
    for message, context in zip(messages, contexts, strict=True):
        if context is None:
            continue
        attributes = {**_MESSAGING, "messaging.message.id": (message.headers or {}).get("Nats-Msg-Id", "")}
        span = _tracer.start_span(
            f"process {_SUBJECT}", context=context, kind=SpanKind.CONSUMER, links=link, attributes=attributes
        )
        spans.append(span)
    return spans
