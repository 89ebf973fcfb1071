"""Events for subscribers outside the gateway: one model per schema name and version.

Each model is published by the service that owns the change, on the subject
in its `subject` class attribute, with `event_id` as the `Nats-Msg-Id`.
Amounts are exact decimals, written as JSON strings. No event carries a
secret. Message content appears only in `SessionTurnAppended`, and only when
the sessions service is set to include it.

`gateway_contracts.registry` lists the models with their streams, and
`decode_event` picks the model for a received message.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from gateway_contracts import bus
from gateway_contracts.envelope import EventEnvelope
from gateway_contracts.events import CostBreakdown, RequestStatus, TokenUsage
from gateway_contracts.money import PlainDecimal


class RecordedTokens(TokenUsage):
    """Token counts by kind, as in the usage of a chat completion."""

    model_config = ConfigDict(extra="ignore")


class RecordedCost(CostBreakdown):
    """Cost in USD by kind; `total` is the sum of the parts."""

    model_config = ConfigDict(extra="ignore")


class UsageRecorded(EventEnvelope):
    """Accounting stored the usage and cost of one finished request, successful or not.

    Published once per request after the spend is committed. JetStream drops
    a copy published again within the stream's duplicate window, and a later
    copy carries the same `event_id`.
    """

    subject: ClassVar[str] = bus.USAGE_RECORDED_SUBJECT

    schema_name: Literal["usage.recorded"] = "usage.recorded"
    schema_version: Literal[1] = 1
    project_id: str
    key_id: str
    # The model that served the request, after aliases and fallbacks.
    model: str
    provider: str
    upstream_model: str
    status: RequestStatus
    http_status: int
    # The gateway's stable error code, for example `rate_limited`, when `status` is not `ok`.
    error_code: str | None = None
    stream: bool
    emulated: bool = False
    session_id: str | None = None
    usage: RecordedTokens
    cost: RecordedCost
    started_at: datetime
    finished_at: datetime
    latency_ms: float = Field(ge=0)
    # Time from the edge receiving the request to the first content byte.
    ttft_ms: float | None = Field(default=None, ge=0)


class _BudgetDay(EventEnvelope):
    project_id: str
    # The budget day, in the project's time zone.
    day: date
    timezone: str
    cap_usd: PlainDecimal
    spent_usd: PlainDecimal


class BudgetThresholdCrossed(_BudgetDay):
    """A project's spend today reached `threshold` of its daily cap; published once per project and day.

    `request_id` is the last request of the project in the usage batch that
    crossed the threshold.
    """

    subject: ClassVar[str] = bus.BUDGET_THRESHOLD_CROSSED_SUBJECT

    schema_name: Literal["budget.threshold_crossed"] = "budget.threshold_crossed"
    schema_version: Literal[1] = 1
    # The fraction of the cap, for example 0.8.
    threshold: PlainDecimal


class BudgetExhausted(_BudgetDay):
    """The spend today of a project or of one API key reached its daily cap.

    The edge rejects the project's (or the key's) requests until the day ends.

    Published once per project and day, and once per capped key and day.
    """

    subject: ClassVar[str] = bus.BUDGET_EXHAUSTED_SUBJECT

    schema_name: Literal["budget.exhausted"] = "budget.exhausted"
    schema_version: Literal[1] = 1
    # When the budget day ends and spending starts again from zero.
    resets_at: datetime
    # The API key whose own daily cap ran out; None when the project's cap did.
    # `cap_usd` and `spent_usd` are then the key's.
    key_id: str | None = None


class SessionTurnAppended(EventEnvelope):
    """The sessions service stored one message of a session.

    Published on `sessions.session_turn_subject(project_id, session_id)`, one
    subject per session, so that deleting the session also purges these
    events from the stream.
    """

    subject: ClassVar[str] = bus.SESSION_TURN_APPENDED_SUBJECTS

    schema_name: Literal["session.turn_appended"] = "session.turn_appended"
    schema_version: Literal[1] = 1
    project_id: str
    session_id: str
    turn_id: str
    # None for the first turn of a session.
    parent_turn_id: str | None
    branch_id: str
    role: str
    # The model that served the request that added the turn.
    model: str
    status: RequestStatus
    # The message in OpenAI's Chat Completions format; None unless the
    # sessions service is set to include message content in events.
    message: dict[str, Any] | None = None


class SessionDeleted(EventEnvelope):
    """A session and all its turns were deleted through the sessions API."""

    subject: ClassVar[str] = bus.SESSION_DELETED_SUBJECT

    schema_name: Literal["session.deleted"] = "session.deleted"
    schema_version: Literal[1] = 1
    project_id: str
    session_id: str
    deleted_turns: int = Field(ge=0)


class ApiKeyCreated(EventEnvelope):
    """An API key was issued; the event names it but never carries its secret or a digest of it."""

    subject: ClassVar[str] = bus.API_KEY_CREATED_SUBJECT

    schema_name: Literal["api_key.created"] = "api_key.created"
    schema_version: Literal[1] = 1
    project_id: str
    key_id: str
    name: str | None = None
    # The first characters of the key, as the admin API lists them.
    prefix: str
    daily_budget_usd: PlainDecimal | None = None


class ApiKeyRevoked(EventEnvelope):
    """An API key was revoked; requests with it are rejected from now on."""

    subject: ClassVar[str] = bus.API_KEY_REVOKED_SUBJECT

    schema_name: Literal["api_key.revoked"] = "api_key.revoked"
    schema_version: Literal[1] = 1
    project_id: str
    key_id: str
    revoked_at: datetime


class ProjectBudgetChanged(EventEnvelope):
    """A project's daily cap, budget time zone or alert threshold changed; the values now in force."""

    subject: ClassVar[str] = bus.PROJECT_BUDGET_CHANGED_SUBJECT

    schema_name: Literal["project.budget_changed"] = "project.budget_changed"
    schema_version: Literal[1] = 1
    project_id: str
    # None when the project has no cap.
    daily_budget_usd: PlainDecimal | None
    timezone: str
    budget_alert_threshold: PlainDecimal


CatalogChange = Literal["created", "updated", "retired", "price_added", "price_deleted"]


class CatalogEntryChanged(EventEnvelope):
    """An administrator changed a model of the catalog; `GET /v1/models` lists its new state."""

    subject: ClassVar[str] = bus.CATALOG_ENTRY_CHANGED_SUBJECT

    schema_name: Literal["catalog.entry_changed"] = "catalog.entry_changed"
    schema_version: Literal[1] = 1
    # Catalog changes concern every project.
    project_id: None = None
    model_id: str
    provider: str
    change: CatalogChange
    retired: bool
