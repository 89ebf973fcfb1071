"""Inclusive ranges of UTC days taken from `start` and `end` query parameters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from gateway_edge.errors import EdgeError

MAX_DAYS = 366


def day_range(start: date | None, end: date | None, default_days: int) -> tuple[date, date]:
    """Fill in the defaults (`end` today, `default_days` days in all) and reject a reversed or too long range."""
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=default_days - 1)
    if start > end:
        raise EdgeError("invalid_request", f"`start` ({start}) is after `end` ({end}).", param="start")
    if (end - start).days >= MAX_DAYS:
        raise EdgeError(
            "invalid_request",
            f"The range from {start} to {end} spans more than {MAX_DAYS} days; choose a later `start`.",
            param="start",
        )
    return start, end
