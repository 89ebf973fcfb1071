"""Cost of one request from its token usage and the catalog price in force."""

from __future__ import annotations

from decimal import Decimal

from gateway_contracts import CostBreakdown, Price, TokenUsage

_PER_TOKEN = Decimal(1_000_000)


def price_usage(usage: TokenUsage, price: Price | None) -> CostBreakdown:
    """Split the usage into disjoint token kinds and price each one exactly.

    Cached reads, cache writes and audio are parts of `prompt_tokens`;
    reasoning and audio are parts of `completion_tokens`. A kind without its
    own price is charged at the plain input or output price, and a missing
    input or output price counts as zero.
    """
    if price is None:
        return CostBreakdown()

    plain_input = max(
        usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens - usage.audio_input_tokens, 0
    )
    plain_output = max(usage.completion_tokens - usage.reasoning_tokens - usage.audio_output_tokens, 0)
    input_price = price.input or Decimal(0)
    output_price = price.output or Decimal(0)

    parts = {
        "input": plain_input * input_price,
        "cached_input": usage.cached_tokens * _or(price.cached_input, input_price),
        "cache_write": usage.cache_write_tokens * _or(price.cache_write, input_price),
        "output": plain_output * output_price,
        "reasoning": usage.reasoning_tokens * _or(price.reasoning, output_price),
        "audio_input": usage.audio_input_tokens * _or(price.audio_input, input_price),
        "audio_output": usage.audio_output_tokens * _or(price.audio_output, output_price),
    }
    costs = {kind: amount / _PER_TOKEN for kind, amount in parts.items()}
    return CostBreakdown(**costs, total=sum(costs.values(), Decimal(0)))


def _or(value: Decimal | None, fallback: Decimal) -> Decimal:
    return fallback if value is None else value
