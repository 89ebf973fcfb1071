"""Budget days and the arithmetic of a cap, shared by the edge that admits and accounting that reports.

A budget day starts at midnight in the project's time zone. What a cap still
allows on a day is the cap, less what accounting recorded as spent, less the
reservations of requests still running: the ledger's reserved total minus
the part that accounting has settled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from gateway_contracts.records import DaySpend

_ZERO = Decimal(0)


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def budget_day(timezone: str, timestamp: float) -> date:
    """Return the budget day that Unix time `timestamp` falls on in `timezone`."""
    return datetime.fromtimestamp(timestamp, zone(timezone)).date()


def resets_at(timezone: str, day: date) -> datetime:
    """Return the UTC instant at which the budget day after `day` begins."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone(timezone)).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Standing:
    """One cap on one day: spent and recorded, reserved by running requests, and what is left."""

    cap: Decimal
    spent: Decimal
    in_flight: Decimal
    remaining: Decimal

    def admits(self, amount: Decimal) -> bool:
        return amount <= self.remaining


def standing(cap: Decimal, day: DaySpend | None, reserved: Decimal) -> Standing:
    """Combine a cap, accounting's record of the day and the ledger's reserved total.

    A record that lags behind only makes the result cautious: a request that
    settles moves its cost into `spent` and its whole reservation out of
    `in_flight`, and its cost never exceeds its reservation.
    """
    spent = day.spent_usd if day is not None else _ZERO
    settled = day.settled_reserved_usd if day is not None else _ZERO
    in_flight = _plain(max(reserved - settled, _ZERO))
    return Standing(cap=cap, spent=spent, in_flight=in_flight, remaining=_plain(cap - spent - in_flight))


def _plain(amount: Decimal) -> Decimal:
    # A difference that comes out zero keeps its exponent (`0E-7`); show it as `0`.
    return amount if amount else _ZERO
