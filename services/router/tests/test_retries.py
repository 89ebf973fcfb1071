"""Retries before the first byte, and the models a request falls back to."""

from __future__ import annotations

import pytest

from gateway_contracts import CatalogEntry
from gateway_router.errors import RequestRejected, UpstreamFailed
from gateway_router.retries import RetryPolicy, may_fall_back, model_chain

POLICY = RetryPolicy(max_attempts=3, backoff_seconds=1.0, max_wait_seconds=10.0)


def failure(retryable: bool = True, retry_after: float | None = None) -> UpstreamFailed:
    return UpstreamFailed("x", code="upstream_overloaded", retryable=retryable, retry_after=retry_after)


def test_backoff_doubles_with_jitter() -> None:
    first = POLICY.delay(1, failure())
    second = POLICY.delay(2, failure())

    assert first is not None and 0.5 <= first <= 1.0
    assert second is not None and 1.0 <= second <= 2.0


def test_no_retry_after_the_last_attempt_or_for_a_final_error() -> None:
    assert POLICY.delay(3, failure()) is None
    assert POLICY.delay(1, failure(retryable=False)) is None


def test_retry_after_is_honoured_within_the_limit() -> None:
    assert POLICY.delay(1, failure(retry_after=4.0)) == 4.0
    assert POLICY.delay(1, failure(retry_after=30.0)) is None


def test_chain_is_request_models_then_catalog_fallbacks_without_repeats() -> None:
    entry = CatalogEntry(id="a/one", provider="a", upstream_name="one", fallbacks=["a/three", "a/two"])

    chain = model_chain("a/one", {"models": ["a/two", "a/one", 7]}, entry)

    assert chain == ["a/one", "a/two", "a/three"]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (UpstreamFailed("x", code="context_length_exceeded"), True),
        (UpstreamFailed("x", code="upstream_auth_failed"), True),
        (RequestRejected("x", code="provider_not_configured"), True),
        (RequestRejected("x", code="unsupported_parameter"), False),
        (RequestRejected("x", code="invalid_request"), False),
    ],
)
def test_which_failures_fall_back(error, expected: bool) -> None:
    assert may_fall_back(error) is expected
