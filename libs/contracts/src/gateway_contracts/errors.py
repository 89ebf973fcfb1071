"""Stable error codes and OpenAI's error body shape.

Every error the gateway returns to a client carries one of `ErrorCode`; the
HTTP status and the OpenAI error `type` follow from the code through
`ERROR_KINDS`, so the edge maps errors to statuses in exactly this one place.
Clients and tests match on the code, never on the message text.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

ErrorCode = Literal[
    # The caller sent something we cannot accept (4xx).
    "invalid_json",
    "invalid_request",
    "unsupported_parameter",
    "missing_api_key",
    "invalid_api_key",
    "model_not_found",
    "not_found",
    "method_not_allowed",
    "conflict",
    "payload_too_large",
    "context_length_exceeded",
    "client_too_slow",
    "capability_not_supported",
    "budget_exceeded",
    "price_unknown",
    # An upstream or one of our dependencies refused or failed.
    "rate_limited",
    "upstream_overloaded",
    "upstream_auth_failed",
    "upstream_error",
    "upstream_timeout",
    "provider_not_configured",
    "router_unavailable",
    "service_unavailable",
    # A bug of ours.
    "internal_error",
]

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "rate_limit_error",
    "server_error",
    "api_error",
    # A request whose worst-case cost does not fit the project's or key's daily budget.
    "budget_exceeded",
]


ERROR_KINDS: dict[str, tuple[int, ErrorType]] = {
    "invalid_json": (400, "invalid_request_error"),
    "invalid_request": (400, "invalid_request_error"),
    "unsupported_parameter": (400, "invalid_request_error"),
    "missing_api_key": (401, "authentication_error"),
    "invalid_api_key": (401, "authentication_error"),
    "model_not_found": (404, "not_found_error"),
    "not_found": (404, "not_found_error"),
    "method_not_allowed": (405, "invalid_request_error"),
    "conflict": (409, "invalid_request_error"),
    "payload_too_large": (413, "invalid_request_error"),
    "client_too_slow": (408, "invalid_request_error"),
    "context_length_exceeded": (400, "invalid_request_error"),
    "capability_not_supported": (400, "invalid_request_error"),
    "budget_exceeded": (402, "budget_exceeded"),
    "price_unknown": (400, "invalid_request_error"),
    "rate_limited": (429, "rate_limit_error"),
    "upstream_overloaded": (503, "server_error"),
    "upstream_auth_failed": (502, "api_error"),
    "upstream_error": (502, "api_error"),
    "upstream_timeout": (504, "api_error"),
    "provider_not_configured": (503, "server_error"),
    "router_unavailable": (503, "server_error"),
    "service_unavailable": (503, "server_error"),
    "internal_error": (500, "server_error"),
}

ERROR_CODES: frozenset[str] = frozenset(get_args(ErrorCode))
ERROR_TYPES: frozenset[str] = frozenset(get_args(ErrorType))


class ErrorDetail(BaseModel):
    """The inner object of OpenAI's error body."""

    model_config = ConfigDict(extra="forbid")

    message: str
    type: str
    param: str | None = None
    code: str | None = None
    # Set on `budget_exceeded`: the cap, the spend and when the budget resets.
    budget: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    """OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


def status_for(code: ErrorCode) -> int:
    """Return the HTTP status that `code` is answered with."""
    return ERROR_KINDS[code][0]


def error_body(
    code: ErrorCode, message: str, param: str | None = None, budget: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build OpenAI's error body for `code` as a plain dict, ready to serialize."""
    error: dict[str, Any] = {
        "message": message,
        "type": ERROR_KINDS[code][1],
        "param": param,
        "code": code,
    }
    if budget is not None:
        error["budget"] = budget
    return {"error": error}
