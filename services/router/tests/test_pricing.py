"""Costs by token kind, exact to the last digit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from gateway_contracts import Price, TokenUsage
from gateway_router.pricing import price_usage

PRICE = Price(
    effective_from=date(2025, 1, 1),
    input=Decimal("2.50"),
    cached_input=Decimal("1.25"),
    cache_write=Decimal("3.125"),
    output=Decimal("10"),
    reasoning=Decimal("12"),
    audio_input=Decimal("40"),
    audio_output=Decimal("80"),
)


def test_each_kind_is_priced_once() -> None:
    usage = TokenUsage(
        prompt_tokens=1000,
        completion_tokens=500,
        total_tokens=1500,
        cached_tokens=400,
        cache_write_tokens=100,
        reasoning_tokens=200,
        audio_input_tokens=50,
        audio_output_tokens=20,
    )

    cost = price_usage(usage, PRICE)

    assert cost.input == Decimal("0.00112500")  # 450 plain input tokens at 2.50
    assert cost.cached_input == Decimal("0.0005")  # 400 at 1.25
    assert cost.cache_write == Decimal("0.0003125")  # 100 at 3.125
    assert cost.audio_input == Decimal("0.002")  # 50 at 40
    assert cost.output == Decimal("0.0028")  # 280 plain output tokens at 10
    assert cost.reasoning == Decimal("0.0024")  # 200 at 12
    assert cost.audio_output == Decimal("0.0016")  # 20 at 80
    assert cost.total == Decimal("0.0107375")


def test_kinds_without_a_price_fall_back_to_input_and_output() -> None:
    price = Price(effective_from=date(2025, 1, 1), input=Decimal("1"), output=Decimal("4"))
    usage = TokenUsage(prompt_tokens=10, completion_tokens=10, cached_tokens=4, reasoning_tokens=6)

    cost = price_usage(usage, price)

    assert cost.cached_input == Decimal("0.000004")
    assert cost.reasoning == Decimal("0.000024")
    assert cost.total == Decimal("0.00005")


def test_no_price_costs_nothing() -> None:
    assert price_usage(TokenUsage(prompt_tokens=5), None).total == Decimal(0)


def test_sub_nano_dollar_amounts_stay_exact() -> None:
    price = Price(effective_from=date(2025, 1, 1), input=Decimal("0.0375"))

    cost = price_usage(TokenUsage(prompt_tokens=1), price)

    assert cost.total == Decimal("0.0000000375")
