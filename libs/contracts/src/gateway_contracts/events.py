"""JetStream event schemas, versioned by `schema_version` and by subject suffix.

Producers publish each event with the `Nats-Msg-Id` header set to
`event_id(...)`, so a retried publish is dropped by JetStream, and consumers
are idempotent on the same id, so a redelivered event is counted once.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from gateway_contracts.money import PlainDecimal

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
    # Part of cache_write_tokens written for one hour (Anthropic's `ephemeral_1h_input_tokens`).
    cache_write_1h_tokens: int = Field(default=0, ge=0)
    # Part of completion_tokens spent on reasoning.
    reasoning_tokens: int = Field(default=0, ge=0)
    audio_input_tokens: int = Field(default=0, ge=0)
    audio_output_tokens: int = Field(default=0, ge=0)
    # Images in the prompt and images generated, for providers that price per image.
    input_images: int = Field(default=0, ge=0)
    output_images: int = Field(default=0, ge=0)


COST_PARTS = (
    "input",
    "cached_input",
    "cache_write",
    "output",
    "reasoning",
    "audio_input",
    "audio_output",
    "image_input",
    "image_output",
    "request",
)


class CostBreakdown(BaseModel):
    """Cost in USD by kind, exact decimals; `total` is the sum of the parts in `COST_PARTS`."""

    model_config = ConfigDict(extra="forbid")

    currency: Literal["USD"] = "USD"
    input: PlainDecimal = Decimal(0)
    cached_input: PlainDecimal = Decimal(0)
    # Cache writes of every lifetime.
    cache_write: PlainDecimal = Decimal(0)
    output: PlainDecimal = Decimal(0)
    reasoning: PlainDecimal = Decimal(0)
    audio_input: PlainDecimal = Decimal(0)
    audio_output: PlainDecimal = Decimal(0)
    image_input: PlainDecimal = Decimal(0)
    image_output: PlainDecimal = Decimal(0)
    request: PlainDecimal = Decimal(0)
    total: PlainDecimal = Decimal(0)
    # True when the provider reported no usage and the gateway counted the tokens itself.
    estimated: bool = False
    # True when a kind with usage had no known price and was charged nothing.
    incomplete: bool = False


class UsageEvent(BaseModel):
    """One finished request, successful or not, published by the router.

    Version 2 added the reservation fields; version 1 events read as having
    reserved nothing.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1, 2] = 2
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
    # The worst-case cost the edge reserved against the project's and the
    # key's daily budget; zero where that budget has no cap.
    reserved_project_usd: PlainDecimal = Field(default=Decimal(0), ge=0)
    reserved_key_usd: PlainDecimal = Field(default=Decimal(0), ge=0)


class SessionTurn(BaseModel):
    """One message appended to a session, with an id that is stable across redeliveries."""

    model_config = ConfigDict(extra="forbid")

    turn_id: UUID
    role: str
    # The message as OpenAI's Chat Completions format writes it, with every
    # extra field the reply carried (reasoning, thinking blocks and their
    # signatures), because later requests send it back as it is.
    message: dict[str, Any]


class SessionTurnsEvent(BaseModel):
    """The new messages of one request on a session and the reply it produced.

    Published on `session_event_subject(project_id, session_id)`. The turns
    form a chain: the first one continues from `parent_turn_id` when the
    request named one, and otherwise from the session's newest turn at the
    time the event is stored, so that requests on one session are ordered by
    completion.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[2] = 2
    request_id: str
    project_id: str
    session_id: str
    model: str
    status: RequestStatus
    # The turn that the request continued from, when it named one.
    parent_turn_id: UUID | None = None
    turns: list[SessionTurn]
    # The request's parameters besides its messages (tools, temperature,
    # thinking and the like), so that a replay can send them again.
    options: dict[str, Any] = Field(default_factory=dict)
    # Whether the last turn is the assistant's reply, whole or as far as the
    # client received it; False when the request failed or was cancelled
    # before any output.
    includes_reply: bool
    # When the edge received the request; a session deleted after this
    # moment does not get the request's turns back.
    started_at: datetime
    completed_at: datetime


class BudgetThresholdEvent(BaseModel):
    """A project's spend crossed `threshold` of its daily cap; published once per project and day."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    project_id: str
    # The budget day, in the project's time zone.
    day: date
    timezone: str
    # The fraction of the cap, for example 0.8.
    threshold: PlainDecimal
    cap_usd: PlainDecimal
    spent_usd: PlainDecimal
    crossed_at: datetime


def event_id(kind: str, request_id: str) -> str:
    """The `Nats-Msg-Id` of an event: one per kind and request."""
    return f"{kind}:{request_id}"
