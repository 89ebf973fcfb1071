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

_CONTEXT_MARKERS = ("context length", "context_length", "context window", "too many tokens", "prompt is too long")


def classify_status(
    *,
    provider: str,
    credential_env: str,
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

    if status in (401, 403):
        return UpstreamFailed(
            f"Provider `{provider}` rejected the gateway's credentials (HTTP {status}). "
            f"An operator must check `{credential_env}`.",
            code="upstream_auth_failed",
            upstream_status=status,
        )
    if status == 429:
        return UpstreamFailed(
            f"Provider `{provider}` is rate limiting requests: {said}",
            code="rate_limited",
            retry_after=_retry_after(headers),
            upstream_status=status,
        )
    if status == 400 and any(marker in lowered for marker in _CONTEXT_MARKERS):
        return UpstreamFailed(
            f"The request does not fit the model's context window: {said}",
            code="context_length_exceeded",
            param=param or "messages",
            upstream_status=status,
        )

    code = _code_for_status(status)
    return UpstreamFailed(
        f"Provider `{provider}` returned HTTP {status}: {said}", code=code, param=param, upstream_status=status
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
        raise UpstreamFailed(f"Provider `{provider}` did not answer in time.", code="upstream_timeout") from error
    except aiohttp.ClientConnectorError as error:
        raise UpstreamFailed(
            f"Could not connect to provider `{provider}`: {error.os_error or error}", code="upstream_error"
        ) from error
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as error:
        raise UpstreamFailed(
            f"Provider `{provider}` closed the connection mid-reply.", code="upstream_error"
        ) from error
    except aiohttp.ClientError as error:
        raise UpstreamFailed(f"Request to provider `{provider}` failed: {error}", code="upstream_error") from error
