"""Decimal amounts on the wire and the limits of a daily budget cap."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from gateway_contracts.events import CostBreakdown
from gateway_contracts.money import MAX_CAP_USD, plain_decimal
from gateway_contracts.public_events import BudgetExhausted
from gateway_contracts.rpc import BudgetState, KeyCreate, ProjectCreate, ProjectUpdate


def test_plain_decimal_never_uses_an_exponent() -> None:
    cases = {
        Decimal("6E-7"): "0.0000006",
        Decimal("1E+3"): "1000",
        Decimal("1.000000000000000000000000000E+60"): "1" + "0" * 60,
        Decimal("0.0002118"): "0.0002118",
        Decimal("2.50"): "2.50",
        Decimal("-0.0000092"): "-0.0000092",
    }
    for amount, expected in cases.items():
        assert plain_decimal(amount) == expected, amount


def test_plain_decimal_writes_every_zero_as_0() -> None:
    for zero in (Decimal(0), Decimal("0.000"), Decimal("0.00"), Decimal("0E-7"), Decimal("-0"), Decimal("0E+3")):
        assert plain_decimal(zero) == "0", zero


def test_event_costs_serialize_without_exponent() -> None:
    cost = CostBreakdown(input=Decimal("6E-7"), output=Decimal("0E-7"), total=Decimal("6E-7"))

    dumped = cost.model_dump(mode="json")

    assert dumped["input"] == "0.0000006"
    assert dumped["output"] == "0"
    assert dumped["cached_input"] == "0"
    assert dumped["total"] == "0.0000006"


def test_rpc_amounts_serialize_without_exponent() -> None:
    state = BudgetState(
        cap_usd=Decimal("1E+1"), spent_usd=Decimal("0.00"), reserved_usd=Decimal("0E-10"), remaining_usd=Decimal("1E+1")
    )

    assert state.model_dump(mode="json") == {
        "cap_usd": "10",
        "spent_usd": "0",
        "reserved_usd": "0",
        "remaining_usd": "10",
    }


def test_amount_field_keeps_schema_type_string() -> None:
    schema = BudgetExhausted.model_json_schema(mode="serialization")

    assert schema["properties"]["cap_usd"]["type"] == "string"


def test_cap_rejects_values_above_maximum() -> None:
    for value in (1e308, "1000000000.01", "1E+308"):
        with pytest.raises(ValidationError, match=f"more than the maximum daily budget of {MAX_CAP_USD} USD"):
            ProjectCreate(name="p", daily_budget_usd=value)


def test_cap_rejects_too_many_decimal_places() -> None:
    with pytest.raises(ValidationError, match=r"0\.00000000001 has more than 10 decimal places"):
        KeyCreate(name="k", daily_budget_usd="0.00000000001")
    with pytest.raises(ValidationError, match="has more than 10 decimal places"):
        ProjectUpdate(daily_budget_usd="1E-300")


def test_cap_rejects_negative_and_non_finite_values() -> None:
    with pytest.raises(ValidationError, match="-1 is negative"):
        ProjectCreate(name="p", daily_budget_usd="-1")
    for value in ("NaN", "Infinity", float("inf")):
        with pytest.raises(ValidationError):
            ProjectCreate(name="p", daily_budget_usd=value)


def test_cap_accepts_limits_and_trailing_zeros() -> None:
    assert ProjectCreate(name="p", daily_budget_usd="1000000000").daily_budget_usd == MAX_CAP_USD
    assert ProjectCreate(name="p", daily_budget_usd="0.0000000001").daily_budget_usd == Decimal("1E-10")
    assert ProjectCreate(name="p", daily_budget_usd="1.500000000000").daily_budget_usd == Decimal("1.5")
    assert ProjectCreate(name="p", daily_budget_usd=0).daily_budget_usd == 0
