"""The router's metrics and spans: one consumer span per dispatched request, one client span per upstream model.

The client span follows OpenTelemetry's semantic conventions for generative
AI client inference (`gen_ai.*` attributes, named `chat {model}`, kind
CLIENT). It covers every attempt at one model, retries included, because the
conventions ask a span to cover a logical operation. Each failed attempt is a
`gateway.upstream.retry` event on it. A fallback to another model is a span
of its own. The cost goes in `gateway.cost.*` attributes as exact decimal
strings, because the conventions define no cost attribute.

Metric labels carry the catalog id and provider of the model that served the
request, which after a fallback differs from the requested one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from prometheus_client import Counter, Gauge, Histogram

from gateway_contracts import COST_PARTS, CatalogEntry, CostBreakdown, TokenUsage
from gateway_contracts.telemetry import tracer, tracing_enabled

_tracer = tracer("gateway_router")

# `gen_ai.provider.name` values that the conventions define, for our provider names that differ or match;
# any other provider keeps its own name, as the conventions allow.
_GEN_AI_PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    # Google's Gemini API at generativelanguage.googleapis.com (AI Studio).
    "google": "gcp.gemini",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral": "mistral_ai",
    "xai": "x_ai",
}

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_FIRST_TOKEN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

DISPATCHED = Counter(
    "gateway_router_requests",
    "Requests the router finished, by the model and provider that served them and their status (ok, error, cancelled).",
    ["model", "provider", "status"],
)
UPSTREAM_REQUESTS = Counter(
    "gateway_upstream_requests",
    "Calls to providers, one per attempt, by model and provider.",
    ["model", "provider"],
)
UPSTREAM_ERRORS = Counter(
    "gateway_upstream_errors",
    "Calls to providers that failed, one per failed attempt, by model, provider and error code.",
    ["model", "provider", "code"],
)
UPSTREAM_DURATION = Histogram(
    "gateway_upstream_duration_seconds",
    "Time from sending a request to a provider to the end of its reply, by model, provider and streaming.",
    ["model", "provider", "stream"],
    buckets=_LATENCY_BUCKETS,
)
UPSTREAM_FIRST_TOKEN = Histogram(
    "gateway_upstream_time_to_first_token_seconds",
    "Time from sending a streamed request to a provider to its first output chunk, by model and provider.",
    ["model", "provider"],
    buckets=_FIRST_TOKEN_BUCKETS,
)
IN_FLIGHT = Gauge("gateway_router_requests_in_flight", "Requests this router is serving.")
EVENTS_UNACKED = Gauge(
    "gateway_events_unacked", "Usage and session events published and not yet acknowledged by JetStream."
)


def provider_name(provider: str) -> str:
    """Return the `gen_ai.provider.name` value for one of our provider names."""
    return _GEN_AI_PROVIDERS.get(provider, provider)


@contextmanager
def upstream_span(
    entry: CatalogEntry, provider: str, url: str, body: dict[str, Any], stream: bool, session_id: str | None
) -> Iterator[Span | None]:
    """Open the client span of the calls to one model, or yield None when tracing is off.

    A `RouterError` that leaves the block marks the span as failed with the error's code.
    """
    if not tracing_enabled():
        yield None
        return
    address = urlsplit(url)
    system = provider_name(provider)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": system,
        # The attribute's name up to version 1.36 of the conventions, for backends built on those versions.
        "gen_ai.system": system,
        "gen_ai.request.model": entry.upstream_name,
        "gen_ai.request.stream": stream,
        "gateway.model": entry.id,
        "server.address": address.hostname or "",
        "server.port": address.port or (443 if address.scheme == "https" else 80),
    }
    for name, field in (
        ("gen_ai.request.max_tokens", "max_completion_tokens"),
        ("gen_ai.request.max_tokens", "max_tokens"),
        ("gen_ai.request.temperature", "temperature"),
        ("gen_ai.request.top_p", "top_p"),
        ("gen_ai.request.seed", "seed"),
    ):
        value = body.get(field)
        if isinstance(value, int | float) and not isinstance(value, bool) and name not in attributes:
            attributes[name] = value
    if session_id is not None:
        attributes["gen_ai.conversation.id"] = session_id

    with _tracer.start_as_current_span(
        f"chat {entry.upstream_name}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as error:
            code = getattr(error, "code", type(error).__name__)
            span.set_attribute("error.type", str(code))
            span.set_status(Status(StatusCode.ERROR, str(code)))
            raise


def record_retry(span: Span | None, attempt: int, code: str, delay: float) -> None:
    if span is not None:
        span.add_event("gateway.upstream.retry", {"attempt": attempt, "error.type": code, "delay_seconds": delay})


def record_reply(
    span: Span | None,
    response: dict[str, Any] | None,
    finish_reason: str | None,
    usage: TokenUsage | None,
    cost: CostBreakdown | None,
) -> None:
    """Set the response attributes of a successful call: model, id, finish reason, tokens and cost."""
    if span is None:
        return
    if response is not None:
        if isinstance(response.get("model"), str):
            span.set_attribute("gen_ai.response.model", response["model"])
        if isinstance(response.get("id"), str):
            span.set_attribute("gen_ai.response.id", response["id"])
    if finish_reason is not None:
        span.set_attribute("gen_ai.response.finish_reasons", [finish_reason])
    if usage is not None:
        span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
        if usage.cached_tokens:
            span.set_attribute("gen_ai.usage.cache_read.input_tokens", usage.cached_tokens)
        if usage.reasoning_tokens:
            span.set_attribute("gen_ai.usage.reasoning.output_tokens", usage.reasoning_tokens)
    if cost is not None:
        # Decimal strings, because money is never a float here.
        span.set_attribute("gateway.cost.currency", cost.currency)
        span.set_attribute("gateway.cost.total", format(cost.total, "f"))
        for part in COST_PARTS:
            amount = getattr(cost, part)
            if amount:
                span.set_attribute(f"gateway.cost.{part}", format(amount, "f"))
