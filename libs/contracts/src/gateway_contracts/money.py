"""Decimal amounts on the wire: always plain decimal strings, and the limits of caps and prices.

Python's `str(Decimal)` switches to exponent notation for small and large
values (`6E-7`, `1E+308`) and keeps the exponent of a zero (`0E-7`), so a
field of type `Decimal` serializes the same amount in several spellings.
`PlainDecimal` always writes `0.0000006`, `1000000000`, `0`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer

# A cap above this is a typo rather than a budget, and no cost comes near it.
MAX_CAP_USD = Decimal(1_000_000_000)
# Costs are computed from prices per million tokens; ten places keep every
# cap that a person types, while 1e-300 is rejected.
MAX_CAP_DECIMAL_PLACES = 10
# The dearest price listed anywhere is a few hundred USD per million tokens.
# A price above this is a typo, and its costs could overflow ClickHouse's
# Decimal(38, x) columns.
MAX_PRICE_USD = Decimal(100_000)
MAX_PRICE_DECIMAL_PLACES = 10


def plain_decimal(amount: Decimal) -> str:
    """Format `amount` without an exponent, keeping its decimal places; every zero is `0`.

    Trailing zeros stay, so a stored `"2.50"` reads back as it was written.
    """
    if not amount:
        return "0"
    return format(amount, "f")


def _shown(amount: Decimal) -> str:
    # A JSON float such as 1e308 arrives as all of its digits; name it in exponent form.
    return plain_decimal(amount) if abs(amount.adjusted()) <= 20 else format(amount.normalize(), "E")


def _check_places(amount: Decimal, places: int) -> None:
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # NaN and infinity are rejected by pydantic's Decimal validation.
    if -exponent > places and amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise ValueError(f"{_shown(amount)} has more than {places} decimal places; round it")


def _check_cap(amount: Decimal) -> Decimal:
    if amount < 0:
        raise ValueError(f"{_shown(amount)} is negative; a daily budget is 0 USD or more")
    if amount > MAX_CAP_USD:
        raise ValueError(f"{_shown(amount)} is more than the maximum daily budget of {plain_decimal(MAX_CAP_USD)} USD")
    _check_places(amount, MAX_CAP_DECIMAL_PLACES)
    return amount


def _check_price(amount: Decimal) -> Decimal:
    if amount < 0:
        raise ValueError(f"{_shown(amount)} is negative; a price is 0 USD or more")
    if amount > MAX_PRICE_USD:
        raise ValueError(f"{_shown(amount)} is more than the maximum price of {plain_decimal(MAX_PRICE_USD)} USD")
    _check_places(amount, MAX_PRICE_DECIMAL_PLACES)
    return amount


# Any decimal on the wire: USD amounts, prices and fractions such as alert thresholds.
PlainDecimal = Annotated[Decimal, PlainSerializer(plain_decimal, return_type=str, when_used="json")]
# A daily budget in USD, as an admin sets it.
BudgetCap = Annotated[PlainDecimal, AfterValidator(_check_cap)]
# A catalog price: USD per million tokens, per image or per request.
UnitPrice = Annotated[PlainDecimal, AfterValidator(_check_price)]
