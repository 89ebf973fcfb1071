"""Failures that a test asks for, counted per conversation so that a retry can succeed."""

from __future__ import annotations

from collections import OrderedDict

from provider_emulator.directives import Directives

_REMEMBERED = 10_000


class FailurePlan:
    """Decides whether a request fails, from its directives and how often its messages were seen."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, int] = OrderedDict()

    def status(self, directives: Directives, model: str, key: str) -> int | None:
        """The HTTP status to fail with, or None to answer normally."""
        if directives.error is None:
            return None
        if directives.error_for is not None and directives.error_for != model:
            return None
        if directives.error_times is None:
            return directives.error
        return directives.error if self.attempt(key) <= directives.error_times else None

    def midstream(self, directives: Directives, key: str) -> bool:
        """Whether the stream fails after `error_after` chunks this time."""
        if directives.error_after is None:
            return False
        return directives.error_times is None or self.attempt(key) <= directives.error_times

    def attempt(self, key: str) -> int:
        """Count one more request with `key` and return how many there were."""
        count = self._seen.pop(key, 0) + 1
        self._seen[key] = count
        if len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        return count
