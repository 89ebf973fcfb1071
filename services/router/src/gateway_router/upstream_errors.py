"""Translation of provider failures into the router's errors, for every adapter.

Adapters read the provider's error body in their own format and hand the
status and message to `classify_status`; transport failures go through
`translate_transport_errors`. This is the one place where foreign errors
become ours.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import aiohttp

from gateway_contracts import ErrorCode
from gateway_router.errors import UpstreamFailed

# Phrases that providers use to report input that does not fit: OpenAI and vLLM
# ("maximum context length"), Anthropic ("prompt is too long", "exceed context
# limit"), Gemini ("input token count ... exceeds the maximum number of
# tokens"), Qwen ("Range of input length"), xAI (`input_too_large`).
_CONTEXT_MARKERS = (
    "context length",
    "context_length",
    "context window",
    "too many tokens",
    "prompt is too long",
    "exceed context limit",
    "input token count",
    "range of input length",
    "input_too_large",
)

# Statuses after which the same request may succeed a moment later.
_RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})

# Provider error codes that mean the gateway's key is wrong, whatever the status.
# Gemini rejects an invalid key with 400 and reason `API_KEY_INVALID`.
_AUTH_CODES = frozenset({"API_KEY_INVALID", "invalid_api_key", "authentication_error", "UNAUTHENTICATED"})
# Provider error codes that mean an overload: Anthropic's `overloaded_error`
# (HTTP 529, or an SSE `error` event), Gemini's `UNAVAILABLE`.
_OVERLOAD_CODES = frozenset({"overloaded_error", "UNAVAILABLE"})
# Gemini's rate limit and quota status.
_RATE_LIMIT_CODES = frozenset({"RESOURCE_EXHAUSTED", "rate_limit_error", "rate_limit_exceeded"})
# Quotas that a retry cannot lift; the status stays 429.
_QUOTA_CODES = frozenset({"insufficient_quota"})


def classify_status(
    *,
    provider: str,
    credential_advice: str,
    status: int,
    upstream_message: str | None,
    upstream_code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> UpstreamFailed:
    """Map an upstream HTTP failure to the code the client gets.

    Statuses keep their meaning for the client: a rate limit stays 429 with
    its retry hint, an overload stays a retryable 503, a context overflow
    stays a 400. An upstream authentication failure is the operator's
    problem, not the client's, so it becomes 502 and names the variable, not
    the key.
    """
    said = upstream_message or "no message"
    lowered = f"{upstream_code or ''} {said}".lower()

    if status in (401, 403) or upstream_code in _AUTH_CODES:
        return UpstreamFailed(
            f"Provider `{provider}` rejected the gateway's credentials (HTTP {status}). "
            f"An operator must check {credential_advice}.",
            code="upstream_auth_failed",
            upstream_status=status,
        )
    if status == 429 or upstream_code in _RATE_LIMIT_CODES:
        return UpstreamFailed(
            f"Provider `{provider}` is rate limiting requests: {said}",
            code="rate_limited",
            retry_after=_retry_after(headers),
            upstream_status=status,
            retryable=upstream_code not in _QUOTA_CODES,
        )
    if upstream_code in _OVERLOAD_CODES:
        return UpstreamFailed(
            f"Provider `{provider}` is overloaded: {said}",
            code="upstream_overloaded",
            retry_after=_retry_after(headers),
            upstream_status=status,
            retryable=True,
        )
    if status == 400 and any(marker in lowered for marker in _CONTEXT_MARKERS):
        return UpstreamFailed(
            f"The request does not fit the model's context window: {said}",
            code="context_length_exceeded",
            param=param or "messages",
            upstream_status=status,
        )
    if status == 402:
        return UpstreamFailed(
            f"Provider `{provider}` refused the request for billing reasons (HTTP 402): {said} "
            f"An operator must check the provider account.",
            code="upstream_error",
            upstream_status=status,
        )

    code = _code_for_status(status)
    return UpstreamFailed(
        f"Provider `{provider}` returned HTTP {status}: {said}",
        code=code,
        param=param,
        retry_after=_retry_after(headers) if status in _RETRYABLE_STATUSES else None,
        upstream_status=status,
        retryable=status in _RETRYABLE_STATUSES,
    )


def _code_for_status(status: int) -> ErrorCode:
    if status == 413:
        return "payload_too_large"
    if status in (408, 504):
        return "upstream_timeout"
    if status in (503, 529):
        return "upstream_overloaded"
    if 400 <= status < 500 and status != 404:
        return "invalid_request"
    return "upstream_error"


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return float(milliseconds) / 1000
        except ValueError:
            pass
    seconds = headers.get("retry-after")
    if seconds:
        try:
            return float(seconds)
        except ValueError:
            return None
    return None


@contextmanager
def translate_transport_errors(provider: str) -> Iterator[None]:
    """Turn aiohttp's connection and timeout errors into `UpstreamFailed`."""
    try:
        yield
    except (TimeoutError, aiohttp.ServerTimeoutError) as error:
        raise UpstreamFailed(
            f"Provider `{provider}` did not answer in time.", code="upstream_timeout", retryable=True
        ) from error
    except aiohttp.ClientConnectorError as error:
        raise UpstreamFailed(
            f"Could not connect to provider `{provider}`: {error.os_error or error}",
            code="upstream_error",
            retryable=True,
        ) from error
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as error:
        raise UpstreamFailed(
            f"Provider `{provider}` closed the connection mid-reply.", code="upstream_error", retryable=True
        ) from error
    except aiohttp.ClientError as error:
        raise UpstreamFailed(f"Request to provider `{provider}` failed: {error}", code="upstream_error") from error
