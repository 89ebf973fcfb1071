"""Failures that tests ask for: every time, the first few times, or for one model only."""

from __future__ import annotations

from provider_emulator.directives import Directives
from provider_emulator.failures import FailurePlan


def test_error_times_counts_per_conversation() -> None:
    plan = FailurePlan()
    directives = Directives(error=503, error_times=2)

    assert [plan.status(directives, "m", "one") for _ in range(3)] == [503, 503, None]
    assert plan.status(directives, "m", "two") == 503


def test_error_for_one_model_only() -> None:
    plan = FailurePlan()
    directives = Directives(error=529, error_for="a")

    assert plan.status(directives, "a", "k") == 529
    assert plan.status(directives, "b", "k") is None
    assert plan.status(Directives(), "a", "k") is None


def test_midstream_failure_counts_like_errors() -> None:
    plan = FailurePlan()
    directives = Directives(error_after=0, error_times=1)

    assert [plan.midstream(directives, "k") for _ in range(2)] == [True, False]
    assert plan.midstream(Directives(error_after=2), "k") is True
    assert plan.midstream(Directives(), "k") is False
