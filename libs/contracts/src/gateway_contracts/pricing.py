"""The cost of a request under a catalog `Price`: exactly after it ran, at most before it runs.

The router prices every finished request with `price_usage`; the edge
reserves `worst_case_cost` against a budget before dispatching and shows
`cost_range` for a dry run. They share this module so that the bound the edge
reserves is computed from the same prices and rules as the cost it bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway_contracts.events import CostBreakdown, TokenUsage
from gateway_contracts.records import Price, TokenPrices

PER_MILLION = Decimal(1_000_000)
_ZERO = Decimal(0)


def price_usage(usage: TokenUsage, price: Price | None, *, estimated: bool = False) -> CostBreakdown:
    """Split the usage into disjoint kinds and price each one exactly.

    Cached reads, cache writes and audio are parts of `prompt_tokens`;
    reasoning and audio are parts of `completion_tokens`. A kind without its
    own price is charged at the plain input or output price. A missing input
    or output price counts as zero and marks the cost incomplete. The price
    per request applies once the provider has processed anything.
    """
    if price is None:
        return CostBreakdown(estimated=estimated, incomplete=_billable(usage))

    prices = price.for_prompt(usage.prompt_tokens)
    cache_write_5m = max(usage.cache_write_tokens - usage.cache_write_1h_tokens, 0)
    plain_input = max(
        usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens - usage.audio_input_tokens, 0
    )
    plain_output = max(usage.completion_tokens - usage.reasoning_tokens - usage.audio_output_tokens, 0)

    # (part, tokens, USD per million tokens or None) for each kind with
    # tokens; a part may sum several kinds. A kind without tokens costs
    # exactly zero, and most requests use two or three of the eight, so the
    # others cost no Decimal arithmetic (their parts serialize as "0").
    pieces: list[tuple[str, int, Decimal | None]] = []
    if plain_input:
        pieces.append(("input", plain_input, prices.input))
    if usage.cached_tokens:
        pieces.append(("cached_input", usage.cached_tokens, _first(prices.cached_input, prices.input)))
    if cache_write_5m:
        pieces.append(("cache_write", cache_write_5m, _first(prices.cache_write, prices.input)))
    if usage.cache_write_1h_tokens:
        rate = _first(prices.cache_write_1h, prices.cache_write, prices.input)
        pieces.append(("cache_write", usage.cache_write_1h_tokens, rate))
    if plain_output:
        pieces.append(("output", plain_output, prices.output))
    if usage.reasoning_tokens:
        pieces.append(("reasoning", usage.reasoning_tokens, _first(prices.reasoning, prices.output)))
    if usage.audio_input_tokens:
        pieces.append(("audio_input", usage.audio_input_tokens, _first(prices.audio_input, prices.input)))
    if usage.audio_output_tokens:
        pieces.append(("audio_output", usage.audio_output_tokens, _first(prices.audio_output, prices.output)))

    amounts: dict[str, Decimal] = {}
    incomplete = False
    for part, tokens, per_million in pieces:
        if per_million is None:
            incomplete = True
            continue
        amounts[part] = amounts.get(part, _ZERO) + tokens * per_million
    costs = {part: amount / PER_MILLION for part, amount in amounts.items()}

    if usage.input_images:
        costs["image_input"] = usage.input_images * (price.per_input_image or _ZERO)
    if usage.output_images:
        costs["image_output"] = usage.output_images * (price.per_output_image or _ZERO)
    if price.per_request and _billable(usage):
        costs["request"] = price.per_request
    return CostBreakdown(**costs, total=sum(costs.values(), _ZERO), estimated=estimated, incomplete=incomplete)


@dataclass(frozen=True, slots=True)
class CostRange:
    """The cost of a request from zero output tokens to its output limit."""

    minimum: Decimal
    maximum: Decimal


def is_fully_priced(price: Price | None) -> bool:
    """Whether the price gives both an input and an output rate, so a worst case can be bounded."""
    return price is not None and price.input is not None and price.output is not None


def cost_range(price: Price | None, prompt_tokens: int, max_output_tokens: int, input_images: int = 0) -> CostRange:
    """Price the prompt alone, and the prompt with `max_output_tokens` at the dearest output price."""
    if price is None:
        return CostRange(_ZERO, _ZERO)
    prompt = TokenUsage(prompt_tokens=prompt_tokens, total_tokens=prompt_tokens, input_images=input_images)
    minimum = price_usage(prompt, price).total
    prices = price.for_prompt(prompt_tokens)
    output = max_output_tokens * _dearest(prices.output, prices.reasoning, prices.audio_output) / PER_MILLION
    if not _billable(prompt) and max_output_tokens:
        output += price.per_request or _ZERO
    return CostRange(minimum, minimum + output)


def worst_case_cost(price: Price | None, prompt_tokens: int, max_output_tokens: int, input_images: int = 0) -> Decimal:
    """Return an upper bound of the cost, for reserving against a budget before the request runs.

    Every prompt token is priced at the dearest input kind (a cache write can
    cost twice the plain input), every output token at the dearest output
    kind. It bounds the real cost as long as `prompt_tokens` bounds the
    provider's count.
    """
    if price is None:
        return _ZERO
    prices = price.for_prompt(prompt_tokens)
    per_prompt_token = _dearest(
        prices.input, prices.cached_input, prices.cache_write, prices.cache_write_1h, prices.audio_input
    )
    per_output_token = _dearest(prices.output, prices.reasoning, prices.audio_output)
    tokens = prompt_tokens * per_prompt_token + max_output_tokens * per_output_token
    units = input_images * (price.per_input_image or _ZERO) + (price.per_request or _ZERO)
    return tokens / PER_MILLION + units


def _billable(usage: TokenUsage) -> bool:
    return bool(usage.prompt_tokens or usage.completion_tokens or usage.input_images or usage.output_images)


def _first(*values: Decimal | None) -> Decimal | None:
    return next((value for value in values if value is not None), None)


def _dearest(*values: Decimal | None) -> Decimal:
    return max((value for value in values if value is not None), default=_ZERO)


__all__ = ["PER_MILLION", "CostRange", "TokenPrices", "cost_range", "price_usage", "worst_case_cost"]
