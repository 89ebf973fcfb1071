"""Decimal amounts on the wire: always plain decimal strings, and the limits of a daily budget cap.

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


def plain_decimal(amount: Decimal) -> str:
    """Format `amount` without an exponent, keeping its decimal places; every zero is `0`.

    Trailing zeros stay, so a stored `"2.50"` reads back as it was written.
    """
    if not amount:
        return "0"
    return format(amount, "f")


def _check_cap(amount: Decimal) -> Decimal:
    # A JSON float such as 1e308 arrives as all of its digits; name it in exponent form.
    shown = plain_decimal(amount) if abs(amount.adjusted()) <= 20 else format(amount.normalize(), "E")
    if amount < 0:
        raise ValueError(f"{shown} is negative; a daily budget is 0 USD or more")
    if amount > MAX_CAP_USD:
        raise ValueError(f"{shown} is more than the maximum daily budget of {plain_decimal(MAX_CAP_USD)} USD")
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # NaN and infinity are rejected by pydantic's Decimal validation.
    if -exponent > MAX_CAP_DECIMAL_PLACES and amount != amount.quantize(Decimal(1).scaleb(-MAX_CAP_DECIMAL_PLACES)):
        raise ValueError(f"{shown} has more than {MAX_CAP_DECIMAL_PLACES} decimal places; round it")
    return amount


# Any decimal on the wire: USD amounts, prices and fractions such as alert thresholds.
PlainDecimal = Annotated[Decimal, PlainSerializer(plain_decimal, return_type=str, when_used="json")]
# A daily budget in USD, as an admin sets it.
BudgetCap = Annotated[PlainDecimal, AfterValidator(_check_cap)]
