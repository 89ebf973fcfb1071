"""Costs by kind, exact to the last digit, for the usage shape of every provider family."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from gateway_contracts import Price, PriceTier, TokenUsage, cost_range, price_usage, worst_case_cost

DAY = date(2025, 1, 1)


def test_each_openai_kind_is_priced_once() -> None:
    """OpenAI: cached, cache-write and audio tokens are parts of the prompt; reasoning and audio of the output."""
    price = Price(
        effective_from=DAY,
        input=Decimal("2.50"),
        cached_input=Decimal("1.25"),
        cache_write=Decimal("3.125"),
        output=Decimal("10"),
        reasoning=Decimal("12"),
        audio_input=Decimal("40"),
        audio_output=Decimal("80"),
    )
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

    cost = price_usage(usage, price)

    assert cost.input == Decimal("0.001125")  # 450 plain input tokens at 2.50
    assert cost.cached_input == Decimal("0.0005")  # 400 at 1.25
    assert cost.cache_write == Decimal("0.0003125")  # 100 at 3.125
    assert cost.audio_input == Decimal("0.002")  # 50 at 40
    assert cost.output == Decimal("0.0028")  # 280 plain output tokens at 10
    assert cost.reasoning == Decimal("0.0024")  # 200 at 12
    assert cost.audio_output == Decimal("0.0016")  # 20 at 80
    assert cost.total == Decimal("0.0107375")
    assert cost.incomplete is False


def test_anthropic_cache_writes_by_lifetime() -> None:
    """Anthropic: input, 5-minute and 1-hour cache writes and cache reads, thinking inside output_tokens."""
    price = Price(
        effective_from=DAY,
        input=Decimal("3"),
        cached_input=Decimal("0.30"),
        cache_write=Decimal("3.75"),
        cache_write_1h=Decimal("6"),
        output=Decimal("15"),
    )
    # input_tokens=412, cache_creation_input_tokens=1000 (600 for 5m, 400 for 1h),
    # cache_read_input_tokens=2048, output_tokens=96 of which 40 thinking.
    usage = TokenUsage(
        prompt_tokens=412 + 1000 + 2048,
        completion_tokens=96,
        total_tokens=3556,
        cached_tokens=2048,
        cache_write_tokens=1000,
        cache_write_1h_tokens=400,
        reasoning_tokens=40,
    )

    cost = price_usage(usage, price)

    assert cost.input == Decimal("0.001236")  # 412 at 3
    assert cost.cached_input == Decimal("0.0006144")  # 2048 at 0.30
    assert cost.cache_write == Decimal("0.00465")  # 600 at 3.75 + 400 at 6
    assert cost.output == Decimal("0.00084")  # 56 at 15
    assert cost.reasoning == Decimal("0.0006")  # 40 at the output price
    assert cost.total == Decimal("0.0079404")


def test_gemini_long_prompt_uses_the_higher_tier() -> None:
    """Gemini: thoughts inside completion; a prompt above 200,000 tokens is priced by the tier."""
    price = Price(
        effective_from=DAY,
        input=Decimal("1.25"),
        cached_input=Decimal("0.31"),
        output=Decimal("10"),
        tiers=[
            PriceTier(
                above_prompt_tokens=200_000, input=Decimal("2.50"), cached_input=Decimal("0.625"), output=Decimal("15")
            )
        ],
    )
    short = TokenUsage(prompt_tokens=120, completion_tokens=18 + 230, reasoning_tokens=230)
    long = TokenUsage(prompt_tokens=250_000, completion_tokens=100, cached_tokens=50_000)

    short_cost = price_usage(short, price)
    long_cost = price_usage(long, price)

    assert short_cost.input == Decimal("0.00015")
    assert short_cost.output == Decimal("0.00018")
    assert short_cost.reasoning == Decimal("0.0023")
    assert long_cost.input == Decimal("0.5")  # 200,000 at 2.50
    assert long_cost.cached_input == Decimal("0.03125")  # 50,000 at 0.625
    assert long_cost.output == Decimal("0.0015")  # 100 at 15
    assert long_cost.total == Decimal("0.53275")


def test_gemini_audio_input_has_its_own_price() -> None:
    price = Price(effective_from=DAY, input=Decimal("0.30"), audio_input=Decimal("1.00"), output=Decimal("2.50"))
    usage = TokenUsage(prompt_tokens=1000, audio_input_tokens=800, completion_tokens=10)

    cost = price_usage(usage, price)

    assert cost.input == Decimal("0.00006")
    assert cost.audio_input == Decimal("0.0008")
    assert cost.total == Decimal("0.000885")


def test_deepseek_cache_hits_and_misses() -> None:
    """DeepSeek: prompt_tokens = prompt_cache_hit_tokens + prompt_cache_miss_tokens."""
    price = Price(effective_from=DAY, input=Decimal("0.56"), cached_input=Decimal("0.07"), output=Decimal("1.68"))
    usage = TokenUsage(prompt_tokens=18, cached_tokens=8, completion_tokens=60, reasoning_tokens=52)

    cost = price_usage(usage, price)

    assert cost.input == Decimal("0.0000056")  # 10 misses
    assert cost.cached_input == Decimal("0.00000056")  # 8 hits
    assert cost.output == Decimal("0.00001344")
    assert cost.reasoning == Decimal("0.00008736")
    assert cost.total == Decimal("0.00010696")


def test_prices_per_image_and_per_request() -> None:
    price = Price(
        effective_from=DAY,
        input=Decimal("1"),
        output=Decimal("2"),
        per_input_image=Decimal("0.001"),
        per_output_image=Decimal("0.04"),
        per_request=Decimal("0.005"),
    )
    usage = TokenUsage(prompt_tokens=10, completion_tokens=5, input_images=2, output_images=1)

    cost = price_usage(usage, price)

    assert cost.image_input == Decimal("0.002")
    assert cost.image_output == Decimal("0.04")
    assert cost.request == Decimal("0.005")
    assert cost.total == Decimal("0.04702")
    assert price_usage(TokenUsage(), price).request == Decimal(0)


def test_kinds_without_a_price_fall_back_to_input_and_output() -> None:
    price = Price(effective_from=DAY, input=Decimal("1"), output=Decimal("4"))
    usage = TokenUsage(prompt_tokens=10, completion_tokens=10, cached_tokens=4, reasoning_tokens=6)

    cost = price_usage(usage, price)

    assert cost.cached_input == Decimal("0.000004")
    assert cost.reasoning == Decimal("0.000024")
    assert cost.total == Decimal("0.00005")


def test_unknown_price_is_charged_nothing_and_marked() -> None:
    price = Price(effective_from=DAY, input=Decimal("1"))

    cost = price_usage(TokenUsage(prompt_tokens=10, completion_tokens=3), price)

    assert cost.total == Decimal("0.00001")
    assert cost.incomplete is True
    assert price_usage(TokenUsage(prompt_tokens=5), None).incomplete is True
    assert price_usage(TokenUsage(), None).total == Decimal(0)


def test_sub_nano_dollar_amounts_stay_exact() -> None:
    price = Price(effective_from=DAY, input=Decimal("0.0375"))

    cost = price_usage(TokenUsage(prompt_tokens=1), price)

    assert cost.total == Decimal("0.0000000375")


def test_worst_case_bounds_every_split_of_the_same_tokens() -> None:
    price = Price(
        effective_from=DAY,
        input=Decimal("3"),
        cached_input=Decimal("0.30"),
        cache_write=Decimal("3.75"),
        cache_write_1h=Decimal("6"),
        output=Decimal("15"),
        reasoning=Decimal("20"),
        per_request=Decimal("0.01"),
    )

    bound = worst_case_cost(price, prompt_tokens=1000, max_output_tokens=100)

    assert bound == Decimal("0.018")  # 1000 at 6 + 100 at 20 + 0.01
    for usage in (
        TokenUsage(prompt_tokens=1000, completion_tokens=100),
        TokenUsage(prompt_tokens=1000, cache_write_tokens=1000, cache_write_1h_tokens=1000, completion_tokens=100),
        TokenUsage(prompt_tokens=1000, completion_tokens=100, reasoning_tokens=100),
    ):
        assert price_usage(usage, price).total <= bound


def test_cost_range_runs_from_no_output_to_the_limit() -> None:
    price = Price(effective_from=DAY, input=Decimal("0.15"), output=Decimal("0.60"))

    span = cost_range(price, prompt_tokens=20, max_output_tokens=1000)

    assert span.minimum == Decimal("0.000003")
    assert span.maximum == Decimal("0.000603")
