"""Decoding of usage events from JetStream, with msgspec first and the pydantic contract as the judge.

`UsageEvent.model_validate_json` took about 7 µs per event on the 2-core
development machine (timeit, one 900-byte event) and a third of the
consumer's main thread in `bench/accounting_ingest.py` under py-spy.
`msgspec` decodes the same JSON into the structs below, with the same field
names, types, defaults and bounds, in under 3 µs. A message that the
structs reject goes to the contract's model, which has the last word: pydantic
also accepts what its lax mode converts (a number in a string, for example),
and such an event is still recorded. A test checks that the structs list the
same fields as the contract, so a new field fails that test instead of every
event that carries it (`services/accounting/tests/test_decoding.py`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from pydantic import ValidationError

from gateway_contracts import COST_PARTS, UsageEvent

_Count = Annotated[int, msgspec.Meta(ge=0)]
_Milliseconds = Annotated[float, msgspec.Meta(ge=0)]
_COST_FIELDS = (*COST_PARTS, "total")


class TokenCounts(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    """`gateway_contracts.TokenUsage`, decoded by msgspec."""

    prompt_tokens: _Count = 0
    completion_tokens: _Count = 0
    total_tokens: _Count = 0
    cached_tokens: _Count = 0
    cache_write_tokens: _Count = 0
    cache_write_1h_tokens: _Count = 0
    reasoning_tokens: _Count = 0
    audio_input_tokens: _Count = 0
    audio_output_tokens: _Count = 0
    input_images: _Count = 0
    output_images: _Count = 0


class CostParts(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    """`gateway_contracts.CostBreakdown`, decoded by msgspec."""

    currency: Literal["USD"] = "USD"
    input: Decimal = Decimal(0)
    cached_input: Decimal = Decimal(0)
    cache_write: Decimal = Decimal(0)
    output: Decimal = Decimal(0)
    reasoning: Decimal = Decimal(0)
    audio_input: Decimal = Decimal(0)
    audio_output: Decimal = Decimal(0)
    image_input: Decimal = Decimal(0)
    image_output: Decimal = Decimal(0)
    request: Decimal = Decimal(0)
    total: Decimal = Decimal(0)
    estimated: bool = False
    incomplete: bool = False

    def __post_init__(self) -> None:
        # msgspec takes "NaN" and "Infinity" as decimals; the contract rejects them.
        for part in _COST_FIELDS:
            if not getattr(self, part).is_finite():
                raise ValueError(f"cost `{part}` must be a finite number")


class UsageRecord(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    """`gateway_contracts.UsageEvent`, decoded by msgspec."""

    request_id: str
    project_id: str
    key_id: str
    model: str
    provider: str
    upstream_model: str
    status: Literal["ok", "error", "cancelled"]
    http_status: int
    stream: bool
    usage: TokenCounts
    cost: CostParts
    started_at: datetime
    finished_at: datetime
    latency_ms: _Milliseconds
    schema_version: Literal[1, 2] = 2
    error_code: str | None = None
    emulated: bool = False
    session_id: str | None = None
    ttft_ms: _Milliseconds | None = None
    reserved_project_usd: Decimal = Decimal(0)
    reserved_key_usd: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        # msgspec bounds only int and float, and takes "NaN" as a decimal; the
        # contract requires finite amounts of at least zero.
        for amount in (self.reserved_project_usd, self.reserved_key_usd):
            if not amount.is_finite() or amount < 0:
                raise ValueError("reserved amounts must be finite and at least 0")


# A usage event as accounting's write path reads it: both types have the same attributes.
Usage = UsageRecord | UsageEvent

_decoder = msgspec.json.Decoder(UsageRecord)


class InvalidUsageEvent(ValueError):
    """A message that the `UsageEvent` contract rejects; redelivering it cannot help."""


def decode_usage(data: bytes) -> UsageRecord:
    """Decode one usage event, or raise `InvalidUsageEvent` when the contract rejects it."""
    try:
        return _decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass

    # Slow path: let the contract decide, then carry its result over to the struct.
    try:
        event = UsageEvent.model_validate_json(data)
    except ValidationError as error:
        raise InvalidUsageEvent(str(error)) from error
    return msgspec.convert(event.model_dump(), UsageRecord, from_attributes=False)
