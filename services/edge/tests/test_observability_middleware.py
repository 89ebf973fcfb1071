"""The request-id middleware around a route that crashes."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway_edge.observability import ObservabilityMiddleware

SECRET_PROMPT = "the user's secret prompt"


async def crash(request: Request) -> Response:
    raise ValueError(SECRET_PROMPT)


async def crash_after_start(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise ValueError(SECRET_PROMPT)


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t")


async def test_crash_gets_openai_shaped_500(caplog: pytest.LogCaptureFixture) -> None:
    app = Starlette(routes=[Route("/boom", crash, methods=["POST"])], middleware=[Middleware(ObservabilityMiddleware)])

    with caplog.at_level(logging.ERROR, logger="gateway_edge.http"):
        async with client(app) as http:
            response = await http.post("/boom")

    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert response.json()["error"]["code"] == "internal_error"
    request_id = response.headers["x-request-id"]
    assert request_id.startswith("req_")
    assert "ValueError" in caplog.text
    assert request_id in caplog.text
    assert SECRET_PROMPT not in caplog.text


async def test_crash_after_response_start_leaves_body_unfinished() -> None:
    """The server then closes the connection, so the client cannot take the cut reply for a whole one."""
    app = ObservabilityMiddleware(crash_after_start)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/stream", "headers": [], "query_string": b""}
    await app(scope, receive, send)

    assert [message["type"] for message in sent] == ["http.response.start"]
