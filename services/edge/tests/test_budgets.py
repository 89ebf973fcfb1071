"""The budget gate's arithmetic: claims judged in order against caps, reserved totals and settled spend."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from gateway_contracts import BudgetRecord, DaySpend, KeyBudget, LedgerRecord
from gateway_edge.budgets import Verdict, _apply, _Claim, budget_exceeded

DAY = date(2025, 6, 1)


def record(cap: str | None = "1", spent: str = "0", settled: str = "0", keys: dict | None = None) -> BudgetRecord:
    return BudgetRecord(
        project_id="proj_a",
        timezone="Europe/Berlin",
        cap_usd=Decimal(cap) if cap is not None else None,
        days={DAY: DaySpend(spent_usd=Decimal(spent), settled_reserved_usd=Decimal(settled))},
        keys=keys or {},
        updated_at=datetime.now(UTC),
    )


async def claims(*amounts: str, key_id: str = "key_a") -> list[_Claim]:
    return [_Claim(key_id=key_id, amount=Decimal(amount)) for amount in amounts]


async def test_claims_are_admitted_in_order_until_the_cap() -> None:
    batch = await claims("0.3", "0.3", "0.3", "0.1")

    ledger, verdicts = _apply(record(cap="1", spent="0.2"), DAY, LedgerRecord(), batch)

    assert [verdict.admitted for verdict in verdicts] == [True, True, False, True]
    assert ledger == LedgerRecord(reserved_usd=Decimal("0.7"))
    assert verdicts[2].scope == "project"
    assert verdicts[2].remaining == Decimal("0.2")
    assert verdicts[3].remaining == Decimal("0.1")


async def test_settled_reservations_leave_only_running_ones() -> None:
    # 0.9 reserved today, of which 0.6 belongs to requests accounting recorded at 0.4.
    current = record(cap="1", spent="0.4", settled="0.6")

    _ledger, verdicts = _apply(current, DAY, LedgerRecord(reserved_usd=Decimal("0.9")), await claims("0.3", "0.01"))

    assert [verdict.admitted for verdict in verdicts] == [True, False]
    assert verdicts[0].remaining == Decimal("0")


async def test_nothing_admitted_writes_nothing() -> None:
    ledger, verdicts = _apply(record(cap="0"), DAY, LedgerRecord(), await claims("0.000001"))

    assert ledger is None
    assert verdicts[0].admitted is False


async def test_key_cap_is_checked_within_an_uncapped_project() -> None:
    keys = {"key_a": KeyBudget(cap_usd=Decimal("0.5"), days={DAY: DaySpend(spent_usd=Decimal("0.25"))})}

    ledger, verdicts = _apply(record(cap=None, keys=keys), DAY, LedgerRecord(), await claims("0.2", "0.1"))

    assert [verdict.admitted for verdict in verdicts] == [True, False]
    assert verdicts[1].scope == "key"
    assert ledger == LedgerRecord(reserved_usd=Decimal(0), keys={"key_a": Decimal("0.2")})


async def test_other_keys_ignore_a_key_cap() -> None:
    keys = {"key_a": KeyBudget(cap_usd=Decimal("0"))}

    ledger, verdicts = _apply(record(cap="1", keys=keys), DAY, LedgerRecord(), await claims("0.5", key_id="key_b"))

    assert verdicts[0].admitted is True
    assert ledger == LedgerRecord(reserved_usd=Decimal("0.5"))


async def test_release_gives_a_reservation_back() -> None:
    batch = [_Claim(key_id="key_a", amount=Decimal("0.25"), release=True)]

    ledger, _verdicts = _apply(record(), DAY, LedgerRecord(reserved_usd=Decimal("0.75")), batch)

    assert ledger == LedgerRecord(reserved_usd=Decimal("0.5"))


async def test_removed_cap_admits_without_writing() -> None:
    ledger, verdicts = _apply(None, DAY, LedgerRecord(), await claims("5"))

    assert ledger is None
    assert verdicts[0].admitted is True


async def test_budget_error_states_cap_spend_and_reset() -> None:
    current = record(cap="1", spent="0.95")
    _ledger, [verdict] = _apply(current, DAY, LedgerRecord(), await claims("0.1"))

    error = budget_exceeded(current, DAY, Decimal("0.1"), verdict)

    assert isinstance(verdict, Verdict)
    assert error.status == 402
    assert error.code == "budget_exceeded"
    assert error.budget == {
        "scope": "project",
        "cap_usd": "1",
        "spent_usd": "0.95",
        "reserved_usd": "0",
        "remaining_usd": "0.05",
        "request_max_cost_usd": "0.1",
        "day": "2025-06-01",
        "timezone": "Europe/Berlin",
        "resets_at": "2025-06-01T22:00:00Z",
    }
    assert "$1" in error.message
    assert "$0.95" in error.message
    assert "2025-06-01T22:00:00Z" in error.message
