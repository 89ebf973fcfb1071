"""Every upstream failure maps to one of our codes with the status clients expect."""

from __future__ import annotations

import aiohttp
import pytest

from gateway_contracts import ERROR_CODES, status_for
from gateway_router.errors import UpstreamFailed
from gateway_router.upstream_errors import classify_status, translate_transport_errors


def classify(status: int, message: str = "boom", code: str | None = None, headers=None) -> UpstreamFailed:
    return classify_status(
        provider="openai",
        credential_advice="`OPENAI_API_KEY`",
        status=status,
        upstream_message=message,
        upstream_code=code,
        headers=headers,
    )


@pytest.mark.parametrize(
    ("status", "code", "client_status"),
    [
        (400, "invalid_request", 400),
        (401, "upstream_auth_failed", 502),
        (403, "upstream_auth_failed", 502),
        (404, "upstream_error", 502),
        (408, "upstream_timeout", 504),
        (413, "payload_too_large", 413),
        (422, "invalid_request", 400),
        (429, "rate_limited", 429),
        (500, "upstream_error", 502),
        (502, "upstream_error", 502),
        (503, "upstream_overloaded", 503),
        (504, "upstream_timeout", 504),
        (529, "upstream_overloaded", 503),
    ],
)
def test_status_mapping(status: int, code: str, client_status: int) -> None:
    error = classify(status)

    assert error.code == code
    assert error.status == client_status


@pytest.mark.parametrize("status", range(400, 600))
def test_every_error_status_has_a_known_code(status: int) -> None:
    error = classify(status)

    assert error.code in ERROR_CODES
    assert status_for(error.code) >= 400


def test_context_overflow_stays_a_400_with_its_code() -> None:
    error = classify(400, "This model's maximum context length is 8192 tokens.", "context_length_exceeded")

    assert error.code == "context_length_exceeded"
    assert error.status == 400
    assert error.param == "messages"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"retry-after": "7"}, 7.0), ({"retry-after-ms": "1500"}, 1.5), ({"retry-after": "soon"}, None), ({}, None)],
)
def test_rate_limit_keeps_the_retry_hint(headers: dict[str, str], expected: float | None) -> None:
    assert classify(429, headers=headers).retry_after == expected


def test_auth_failure_names_the_variable_not_the_key() -> None:
    error = classify(401, "Incorrect API key provided: sk-abc123")

    assert "OPENAI_API_KEY" in error.message
    assert "sk-abc123" not in error.message


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        (TimeoutError(), "upstream_timeout"),
        (aiohttp.ServerTimeoutError(), "upstream_timeout"),
        (aiohttp.ServerDisconnectedError(), "upstream_error"),
        (aiohttp.ClientPayloadError("truncated"), "upstream_error"),
        (aiohttp.ClientError("other"), "upstream_error"),
    ],
)
def test_transport_errors_become_upstream_failures(raised: Exception, code: str) -> None:
    with pytest.raises(UpstreamFailed) as caught, translate_transport_errors("openai"):
        raise raised

    assert caught.value.code == code
    assert caught.value.__cause__ is raised
