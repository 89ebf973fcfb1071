"""JetStream event schemas, versioned by `schema_version` and by subject suffix.

Producers publish each event with the `Nats-Msg-Id` header set to
`event_id(...)`, so a retried publish is dropped by JetStream, and consumers
are idempotent on the same id, so a redelivered event is counted once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RequestStatus = Literal["ok", "error", "cancelled"]


class TokenUsage(BaseModel):
    """Token counts by kind. Subsets are included in their totals, as OpenAI counts them."""

    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    total_tokens: int = Field(default=0, ge=0)
    # Part of prompt_tokens read from the provider's prompt cache.
    cached_tokens: int = Field(default=0, ge=0)
    # Part of prompt_tokens written to the provider's prompt cache.
    cache_write_tokens: int = Field(default=0, ge=0)
    # Part of completion_tokens spent on reasoning.
    reasoning_tokens: int = Field(default=0, ge=0)
    audio_input_tokens: int = Field(default=0, ge=0)
    audio_output_tokens: int = Field(default=0, ge=0)


class CostBreakdown(BaseModel):
    """Cost in USD by token kind, exact decimals; `total` is the sum of the parts."""

    model_config = ConfigDict(extra="forbid")

    currency: Literal["USD"] = "USD"
    input: Decimal = Decimal(0)
    cached_input: Decimal = Decimal(0)
    cache_write: Decimal = Decimal(0)
    output: Decimal = Decimal(0)
    reasoning: Decimal = Decimal(0)
    audio_input: Decimal = Decimal(0)
    audio_output: Decimal = Decimal(0)
    total: Decimal = Decimal(0)


class UsageEvent(BaseModel):
    """One finished request, successful or not, published by the router."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    request_id: str
    project_id: str
    key_id: str
    model: str
    provider: str
    upstream_model: str
    status: RequestStatus
    http_status: int
    error_code: str | None = None
    stream: bool
    emulated: bool = False
    session_id: str | None = None
    usage: TokenUsage
    cost: CostBreakdown
    started_at: datetime
    finished_at: datetime
    latency_ms: float = Field(ge=0)
    # Time from the edge receiving the request to the first content byte.
    ttft_ms: float | None = Field(default=None, ge=0)


class SessionTurn(BaseModel):
    """One message appended to a session, with an id that is stable across redeliveries."""

    model_config = ConfigDict(extra="forbid")

    turn_id: str
    role: str
    # The message as OpenAI's Chat Completions format writes it.
    message: dict[str, Any]


class SessionTurnsEvent(BaseModel):
    """The new messages of one request on a session and the reply it produced."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    request_id: str
    project_id: str
    session_id: str
    model: str
    status: RequestStatus
    turns: list[SessionTurn]
    completed_at: datetime


def event_id(kind: str, request_id: str) -> str:
    """The `Nats-Msg-Id` of an event: one per kind and request."""
    return f"{kind}:{request_id}"
