"""Checks on the raw request that hold for every route."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway_contracts import error_body

# C0 control characters and DEL: no id, name or filter of ours contains one,
# and PostgreSQL's text type rejects NUL outright.
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


class RejectControlCharacters:
    """Answer 400 to a path or query string with control characters, before any route sees them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_control(scope):
            await self.app(scope, receive, send)
            return
        body = orjson.dumps(
            error_body("invalid_request", "The request path or query string contains a control character.")
        )
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _has_control(scope: Scope) -> bool:
    raw_path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    return bool(_CONTROL.search(unquote_to_bytes(raw_path)) or _CONTROL.search(unquote_to_bytes(query)))
