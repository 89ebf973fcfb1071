"""`POST /v1/chat/completions` as plain ASGI, ahead of FastAPI's routing.

Under a non-streaming load at concurrency 50, FastAPI's router, its request
handler and the exception middleware took about a fifth of the edge's CPU
(py-spy through `bench/profile_hot_path.py`). This middleware sends the
chat route straight to its handler instead, and turns an `EdgeError` into
its response itself. The middleware around it still runs: the request id and
metrics, the control-character guard, the 500 for an unexpected exception and
FastAPI's server span. The route stays registered with FastAPI too, for the
OpenAPI document. Any other method or path goes on to FastAPI, which returns
405 or 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import trace
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway_contracts.telemetry import tracing_enabled
from gateway_edge.chat import chat_completions
from gateway_edge.errors import EdgeError, edge_error_response

CHAT_PATH = "/v1/chat/completions"


@dataclass(frozen=True, slots=True)
class RouteTemplate:
    """The route template in `scope["route"]`, read for the metrics' route label, when FastAPI's router did not run."""

    path: str


_CHAT_ROUTE = RouteTemplate(CHAT_PATH)


class ChatEndpoint:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != CHAT_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return

        scope["route"] = _CHAT_ROUTE
        if tracing_enabled():
            # FastAPI names its server span after the route its router matched, and its router does not run here.
            span = trace.get_current_span()
            span.set_attribute("http.route", CHAT_PATH)
            span.update_name(f"POST {CHAT_PATH}")
        try:
            response = await chat_completions(Request(scope, receive))
        except EdgeError as error:
            response = edge_error_response(error)
        await response(scope, receive, send)
