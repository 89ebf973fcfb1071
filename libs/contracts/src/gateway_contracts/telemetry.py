"""Trace context across the bus, and the request id of the work in hand.

Services trace through the OpenTelemetry API only. `gateway serve` installs
the SDK, with an OTLP exporter, when an endpoint is configured. Otherwise the
API's no-op tracer stays in place and `tracing_enabled` is False, so the hot
path can skip span work altogether.

Trace context crosses NATS as W3C `traceparent` and `tracestate` message
headers, written and read by the globally configured propagator (W3C trace
context and baggage unless `OTEL_PROPAGATORS` says otherwise).

`REQUEST_ID` holds the gateway request id while a request or its events are
handled; the logging set-up of `gateway serve` adds it to every log line.

Needs the `nats` extra.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar

from opentelemetry import propagate, trace
from opentelemetry.context import Context

from gateway_contracts.envelope import trace_id_for

__all__ = [
    "REQUEST_ID",
    "REQUEST_ID_HEADER",
    "context_from_headers",
    "current_trace_id",
    "trace_headers",
    "tracer",
    "tracing_enabled",
]

REQUEST_ID: ContextVar[str | None] = ContextVar("gateway_request_id", default=None)
# The NATS header that carries `REQUEST_ID` on request/reply calls, so that events a handler publishes name the request.
REQUEST_ID_HEADER = "Gateway-Request-Id"


def tracing_enabled() -> bool:
    """Return whether a tracer provider was installed, which `gateway serve` does only when exporting.

    Called several times per request. Until a provider is installed,
    opentelemetry-api 1.45's `get_tracer_provider()` looks up an environment
    variable on every call. With FastAPI's own check that was about 7% of
    the edge's py-spy samples under load, so the API's module global is read
    instead where it exists.
    NOTE: a provider named only by `OTEL_PYTHON_TRACER_PROVIDER` counts once
    something has called `get_tracer_provider()`; `gateway serve` installs
    its provider explicitly.
    """
    provider = getattr(trace, "_TRACER_PROVIDER", _NO_GLOBAL)
    if provider is _NO_GLOBAL:
        provider = trace.get_tracer_provider()
    return provider is not None and not isinstance(provider, trace.ProxyTracerProvider)


# Marks an opentelemetry-api without the `_TRACER_PROVIDER` global.
_NO_GLOBAL = object()


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def trace_headers(headers: dict[str, str] | None = None) -> dict[str, str] | None:
    """Add the current trace context to `headers` (a new dict when None); None when there is nothing to add."""
    carrier: dict[str, str] = {} if headers is None else headers
    if tracing_enabled():
        propagate.inject(carrier)
    return carrier or None


def context_from_headers(headers: Mapping[str, str] | None) -> Context | None:
    """Return the trace context that a NATS message carries, or None when it carries none."""
    if not headers or "traceparent" not in headers:
        return None
    return propagate.extract(headers)


def current_trace_id(request_id: str) -> str:
    """Return the trace id for an event of `request_id`: the current span's, or one derived from the id."""
    if tracing_enabled():
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            return format(context.trace_id, "032x")
    return trace_id_for(request_id)
