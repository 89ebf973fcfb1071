"""The edge's Prometheus metrics, and `GET /metrics` on its API port.

Chat metrics are labelled by the catalog id and provider of the requested
model (after alias resolution), or `other` for a request whose model was not
resolved. The router's metrics name the model that served a request after a
fallback.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from starlette.responses import Response

# Seconds, from a millisecond to the ten minutes a long generation may take.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
FIRST_TOKEN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

HTTP_REQUESTS = Counter(
    "gateway_http_requests",
    "HTTP requests answered by the edge, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "gateway_http_request_duration_seconds",
    "Time from receiving an HTTP request to the last byte of its response, by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
CHAT_REQUESTS = Counter(
    "gateway_requests",
    "Chat completion requests, by model, provider and HTTP status code.",
    ["model", "provider", "status"],
)
CHAT_ERRORS = Counter(
    "gateway_request_errors",
    "Chat completion requests that failed, by model, provider and error code, including failures inside a stream.",
    ["model", "provider", "code"],
)
CHAT_DURATION = Histogram(
    "gateway_request_duration_seconds",
    "Time from receiving a chat completion request to the end of its response, by model, provider and streaming.",
    ["model", "provider", "stream"],
    buckets=LATENCY_BUCKETS,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "gateway_time_to_first_token_seconds",
    "Time from receiving a streamed chat completion request to relaying its first output chunk, by model and provider.",
    ["model", "provider"],
    buckets=FIRST_TOKEN_BUCKETS,
)
BUDGET_REJECTIONS = Counter(
    "gateway_budget_rejections",
    "Requests rejected with 402 because a daily budget did not cover them, by project and by the budget "
    "that refused (project or key).",
    ["project", "scope"],
)
IN_FLIGHT = Gauge("gateway_requests_in_flight", "Chat completion requests dispatched to a router and not finished.")

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    # Rendered on a worker thread, so that a scrape does not hold up requests.
    body = await asyncio.to_thread(encoder, REGISTRY)
    return Response(body, headers={"content-type": content_type})
