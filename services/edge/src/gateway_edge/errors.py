"""The edge's errors and the one place that turns them into HTTP responses.

    EdgeError           a request we answer with OpenAI's error body
    └── carries an `ErrorCode`; `ERROR_KINDS` gives its status and type

Framework errors (unknown route, wrong method, FastAPI's own validation) are
translated to the same shape by the handlers that `install_handlers` adds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from gateway_contracts import ErrorCode, error_body, status_for
from gateway_edge.observability import observe_error


class EdgeError(Exception):
    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        param: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        budget: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.status = status or status_for(code)
        self.headers = dict(headers or {})
        # The numbers of a `budget_exceeded` error, added to its body.
        self.budget = budget


def error_response(
    code: ErrorCode,
    message: str,
    *,
    param: str | None = None,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    budget: dict[str, Any] | None = None,
) -> Response:
    return Response(
        orjson.dumps(error_body(code, message, param, budget)),
        status_code=status or status_for(code),
        media_type="application/json",
        headers=headers,
    )


def raw_error_response(status: int, body: dict[str, object], headers: Mapping[str, str] | None = None) -> Response:
    """Answer with an error body that the router already built."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


_HTTP_CODES: dict[int, ErrorCode] = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def edge_error_response(error: EdgeError) -> Response:
    observe_error(error.code)
    return error_response(
        error.code,
        error.message,
        param=error.param,
        status=error.status,
        headers=error.headers,
        budget=error.budget,
    )


def install_handlers(app: FastAPI) -> None:
    async def on_edge_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, EdgeError)
        return edge_error_response(error)

    async def on_http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        code = _HTTP_CODES.get(error.status_code, "invalid_request")
        if error.status_code == 404:
            message = f"No route for `{request.method} {request.url.path}`."
        elif error.status_code == 405:
            message = f"`{request.method}` is not allowed on `{request.url.path}`."
        else:
            message = str(error.detail)
        observe_error(code)
        return error_response(code, message, status=error.status_code, headers=error.headers)

    async def on_validation_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        first = error.errors()[0]
        location = [segment for segment in first.get("loc", ()) if segment not in ("query", "path", "body")]
        param = ".".join(str(segment) for segment in location) or None
        message = (
            f"Invalid value for `{param}`: {first.get('msg')}." if param else f"Invalid request: {first.get('msg')}."
        )
        observe_error("invalid_request")
        return error_response("invalid_request", message, param=param)

    app.add_exception_handler(EdgeError, on_edge_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
