"""One middleware around every HTTP request: its request id and its metrics.

The middleware gives each request a `req_...` id. The id is the response's
`x-request-id` header, the `REQUEST_ID` of the log lines emitted while the
request runs, and the `gateway.request.id` attribute of its server span. The
middleware records the HTTP metrics when the response has ended. The chat route fills
in its `Observation` (model, provider, error code, first output) so that the
chat metrics carry those labels.

FastAPI's own OpenTelemetry support opens the server span, outside this
middleware, when a tracer provider is installed; `telemetry_config` configures it.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway_contracts import CatalogEntry, error_body
from gateway_contracts.metrics import OTHER, labelled, model_labels
from gateway_contracts.telemetry import REQUEST_ID, tracing_enabled
from gateway_edge import metrics

logger = logging.getLogger("gateway_edge.http")

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Probes and scrapes: counted, but not traced.
_UNTRACED_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
_REQUEST_ID_HEADER = b"x-request-id"


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in _UNTRACED_PATHS


def telemetry_config() -> TelemetryConfig:
    """FastAPI's server span only, and only when `gateway serve` installed a tracer provider.

    No span per dependency and endpoint call, no OpenTelemetry metrics
    (Prometheus has them), and no OpenTelemetry log records of exceptions,
    whose messages could hold a request's content. Naming the provider here,
    or turning tracing off, spares FastAPI a look-up of the global provider on
    every request.
    """
    enabled = tracing_enabled()
    return {
        "tracing": enabled,
        "tracer_provider": trace.get_tracer_provider() if enabled else None,
        "operation_spans": False,
        "metrics": False,
        "logs": False,
        "auto_configure": False,
        "exclude": _untraced,
    }


@dataclass(slots=True)
class Observation:
    """The facts the chat route learns about a request, for the labels of the chat metrics."""

    request_id: str
    # perf_counter() when the request arrived.
    started_at: float
    model: str = OTHER
    provider: str = OTHER
    stream: bool = False
    error_code: str | None = None
    # perf_counter() when the first output chunk went to the client.
    first_output_at: float | None = None
    # Set once the chat route has started, so that other routes record no chat metrics.
    chat: bool = False


_OBSERVATION: ContextVar[Observation | None] = ContextVar("gateway_edge_observation", default=None)


def observe_chat(entry: CatalogEntry | None = None, *, stream: bool = False) -> None:
    """Mark the request as a chat completion, of `entry`'s model once it is resolved."""
    observation = _OBSERVATION.get()
    if observation is None:
        return
    observation.chat = True
    observation.stream = stream
    observation.model, observation.provider = model_labels(entry)


def observe_error(code: str) -> None:
    """Record the stable error code that the request ended with."""
    observation = _OBSERVATION.get()
    if observation is not None:
        observation.error_code = code


def observe_first_output() -> None:
    observation = _OBSERVATION.get()
    if observation is not None and observation.first_output_at is None:
        observation.first_output_at = time.perf_counter()


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        # 128 random bits in the shape of a uuid4's hex, for a fifth of uuid4()'s cost.
        request_id = f"req_{os.urandom(16).hex()}"
        observation = Observation(request_id=request_id, started_at=time.perf_counter())
        observation_token = _OBSERVATION.set(observation)
        request_id_token = REQUEST_ID.set(request_id)
        status = 500
        started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                headers = list(message.get("headers", ()))
                if not any(name == _REQUEST_ID_HEADER for name, _value in headers):
                    headers.append((_REQUEST_ID_HEADER, request_id.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        if tracing_enabled():
            trace.get_current_span().set_attribute("gateway.request.id", request_id)
        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as error:
            # Starlette would reply to a crash with plain text and no request id.
            status = 500
            _log_crash(scope, request_id, error)
            if not started:
                await _send_internal_error(send_with_request_id)
        finally:
            _record(scope, observation, status)
            REQUEST_ID.reset(request_id_token)
            _OBSERVATION.reset(observation_token)


def _log_crash(scope: Scope, request_id: str, error: Exception) -> None:
    """Log an unhandled error by its type and stack, never its message, which may quote the request."""
    stack = "".join(traceback.format_tb(error.__traceback__))
    logger.error(
        "Unhandled %s in %s %s (request %s)\n%s",
        type(error).__name__,
        scope["method"],
        _route(scope),
        request_id,
        stack,
    )


async def _send_internal_error(send: Send) -> None:
    body = orjson.dumps(
        error_body(
            "internal_error",
            "The gateway failed to handle this request. Retry it, or report the x-request-id to an admin.",
        )
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _route(scope: Scope) -> str:
    """Return the route template that matched, such as `/admin/projects/{project_id}`, or `unmatched`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _record(scope: Scope, observation: Observation, status: int) -> None:
    elapsed = time.perf_counter() - observation.started_at
    method = scope["method"] if scope["method"] in _METHODS else OTHER
    route = _route(scope)
    labelled(metrics.HTTP_REQUESTS, method, route, str(status)).inc()
    labelled(metrics.HTTP_DURATION, method, route).observe(elapsed)
    if not observation.chat:
        return

    model, provider = observation.model, observation.provider
    labelled(metrics.CHAT_REQUESTS, model, provider, str(status)).inc()
    labelled(metrics.CHAT_DURATION, model, provider, "true" if observation.stream else "false").observe(elapsed)
    if observation.error_code is not None:
        metrics.CHAT_ERRORS.labels(model, provider, observation.error_code).inc()
    elif status >= 400:
        # A failure that no handler named, such as a crash that the server turned into a 500.
        metrics.CHAT_ERRORS.labels(model, provider, "internal_error" if status >= 500 else "invalid_request").inc()
    if observation.first_output_at is not None:
        metrics.TIME_TO_FIRST_TOKEN.labels(model, provider).observe(
            observation.first_output_at - observation.started_at
        )
