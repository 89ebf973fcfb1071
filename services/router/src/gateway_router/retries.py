"""When to send a failed upstream request again, and which models to fall back to."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway_contracts import CatalogEntry
from gateway_router.errors import RouterError, UpstreamFailed


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    backoff_seconds: float
    max_wait_seconds: float

    def delay(self, attempt: int, error: UpstreamFailed) -> float | None:
        """Seconds to wait before the attempt after `attempt` (counted from 1), or None to give up.

        The wait doubles with each attempt, with jitter so that many requests
        failing together do not retry together, and is at least what the
        provider asked for in `retry-after`.
        """
        if not error.retryable or attempt >= self.max_attempts:
            return None
        delay = self.backoff_seconds * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        if delay > self.max_wait_seconds:
            return None
        return delay


def model_chain(primary: str, body: Mapping[str, Any], entry: CatalogEntry) -> list[str]:
    """Return the models to try in order: the request's model, its `models`, then the catalog entry's fallbacks."""
    chain: list[str] = []
    for model in (primary, *_strings(body.get("models")), *entry.fallbacks):
        if model not in chain:
            chain.append(model)
    return chain


def may_fall_back(error: RouterError) -> bool:
    """Return whether another model could succeed where this one failed.

    Any upstream failure qualifies, a context overflow included; a request
    the gateway itself rejected would be rejected again.
    """
    return isinstance(error, UpstreamFailed) or error.code == "provider_not_configured"


def _strings(values: Any) -> Sequence[str]:
    return [value for value in values or () if isinstance(value, str)]
