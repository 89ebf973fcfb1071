"""What tracing, metrics and request ids add to one request, with tracing off and on.

    .venv/bin/python bench/tracing_overhead.py --requests 20000

Runs, in this process and without any network, the instrumentation that one
chat request passes through:

- edge: a FastAPI app with one route that answers at once, with the edge's
  middleware (request id, HTTP and chat metrics), FastAPI's server span as
  the edge configures it, and the trace headers of the dispatch; the same
  app without any of these is the baseline;
- router: the request id, the consumer span, the client span of the upstream
  call with its `gen_ai.*` attributes, the upstream and request metrics, and
  the producer spans and headers of the usage and session events.

Each part is timed first with no tracer provider installed (tracing off, as
without `OTEL_EXPORTER_OTLP_ENDPOINT`), then with the SDK's provider and a
batch span processor whose exporter drops every span (tracing on, without
the cost of the export itself, which runs on the processor's thread).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind
from starlette.responses import Response

from gateway_contracts import CatalogEntry, CostBreakdown, TokenUsage
from gateway_contracts.metrics import model_labels
from gateway_contracts.telemetry import REQUEST_ID, context_from_headers, trace_headers, tracer, tracing_enabled
from gateway_edge.observability import TELEMETRY, ObservabilityMiddleware, observe_chat
from gateway_router.observability import (
    DISPATCHED,
    UPSTREAM_DURATION,
    UPSTREAM_REQUESTS,
    record_reply,
    upstream_span,
)

ENTRY = CatalogEntry(id="openai/gpt-4o-mini", provider="openai", upstream_name="gpt-4o-mini")
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 64}
USAGE = TokenUsage(prompt_tokens=6, completion_tokens=7, total_tokens=13)
COST = CostBreakdown(input=Decimal("0.0000009"), output=Decimal("0.0000042"), total=Decimal("0.0000051"))


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def edge_app(instrumented: bool) -> FastAPI:
    app = FastAPI(telemetry=TELEMETRY if instrumented else {"tracing": False, "metrics": False, "logs": False})
    if instrumented:
        app.add_middleware(ObservabilityMiddleware)

    @app.post("/v1/chat/completions")
    async def chat() -> Response:
        if instrumented:
            observe_chat(ENTRY)
            trace_headers()
        return Response(b"{}", media_type="application/json")

    return app


async def edge_request(app: FastAPI) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8080")],
        "scheme": "http",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
    }

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message) -> None:
        return None

    await app(scope, receive, send)


_tracer = tracer("bench")


async def router_request() -> None:
    REQUEST_ID.set("req_bench")
    model, provider = model_labels(ENTRY)
    context = context_from_headers(trace_headers())
    if tracing_enabled():
        with _tracer.start_as_current_span("process gateway.router.chat", context=context, kind=SpanKind.CONSUMER):
            await _upstream(model, provider)
    else:
        await _upstream(model, provider)
    DISPATCHED.labels(model, provider, "ok").inc()


async def _upstream(model: str, provider: str) -> None:
    started = time.perf_counter()
    with upstream_span(ENTRY, "openai", "https://api.openai.com/v1/chat/completions", BODY, False, None) as span:
        UPSTREAM_REQUESTS.labels(model, provider).inc()
        UPSTREAM_DURATION.labels(model, provider, "false").observe(time.perf_counter() - started)
        record_reply(span, {"id": "chatcmpl-1", "model": "gpt-4o-mini"}, "stop", USAGE, COST)
    for subject in ("gateway.events.usage.v1", "gateway.events.session.v1"):
        headers = {"Nats-Msg-Id": "usage:req_bench"}
        if tracing_enabled():
            with _tracer.start_as_current_span(f"send {subject}", kind=SpanKind.PRODUCER):
                trace_headers(headers)


async def measure(run: Callable[[], Awaitable[None]], requests: int) -> tuple[float, float]:
    """Return the median and the 99th percentile, in microseconds, of `requests` runs after a warm-up."""
    for _ in range(min(requests // 10, 1000)):
        await run()
    timings = []
    for _ in range(requests):
        started = time.perf_counter_ns()
        await run()
        timings.append((time.perf_counter_ns() - started) / 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99)]


async def main(requests: int) -> None:
    baseline, instrumented = edge_app(False), edge_app(True)
    rows = [("edge", "baseline", *await measure(lambda: edge_request(baseline), requests))]
    for mode in ("off", "on"):
        if mode == "on":
            provider = TracerProvider(shutdown_on_exit=False)
            provider.add_span_processor(BatchSpanProcessor(DropExporter()))
            trace.set_tracer_provider(provider)
        assert tracing_enabled() is (mode == "on")
        rows.append(("edge", mode, *await measure(lambda: edge_request(instrumented), requests)))
        rows.append(("router", mode, *await measure(router_request, requests)))
    print(f"{'part':<8} {'tracing':<9} {'p50 µs':>8} {'p99 µs':>8}")
    for part, mode, p50, p99 in rows:
        print(f"{part:<8} {mode:<9} {p50:>8.1f} {p99:>8.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    asyncio.run(main(parser.parse_args().requests))
