"""Bodies of the NATS request/reply calls between services.

A reply is either the call's result model or `RpcError`; callers tell them
apart with `parse_reply`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway_contracts.errors import ErrorCode
from gateway_contracts.money import BudgetCap, PlainDecimal
from gateway_contracts.records import (
    AliasName,
    Capability,
    CatalogEntry,
    ModelAlias,
    ModelId,
    Price,
    ReasoningSpec,
)


class RpcError(BaseModel):
    """A failed call: the error code the caller should answer its client with."""

    model_config = ConfigDict(extra="forbid")

    code: ErrorCode
    message: str
    # The request field the error is about, in OpenAI's notation.
    param: str | None = None


class HistoryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    session_id: str
    # Read the conversation up to this turn instead of the session's newest turn.
    parent_turn_id: str | None = None


class HistoryReply(BaseModel):
    """The messages that a request on the session continues; empty for a new session.

    A `parent_turn_id` that is not a turn of the session gets
    `RpcError(code="not_found")`.
    """

    model_config = ConfigDict(extra="forbid")

    messages: list[dict[str, Any]]
    # Estimated prompt tokens of each message (`gateway_contracts.tokens`).
    tokens: list[int] = Field(default_factory=list)
    # The turn the messages end at; None when there are none.
    head_turn_id: str | None = None


class UsageReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    # Inclusive UTC days.
    start: date
    end: date


class UsageRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date
    model: str
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: PlainDecimal


class UsageReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[UsageRow]


class BootstrapRequest(BaseModel):
    """Ask accounting to create the first project, API key and admin token."""

    model_config = ConfigDict(extra="forbid")

    project_name: str


class BootstrapReply(BaseModel):
    """The secrets are set only on the call that created them; later calls get `created=False`."""

    model_config = ConfigDict(extra="forbid")

    created: bool
    project_id: str
    api_key: str | None = None
    admin_token: str | None = None


ReplyModel = TypeVar("ReplyModel", bound=BaseModel)

# A display name: printable text without control characters, which PostgreSQL's
# text type rejects (NUL) or which garble logs and terminals.
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


def parse_reply(data: bytes, model: type[ReplyModel]) -> ReplyModel | RpcError:
    """Decode a reply as `model`, or as `RpcError` when it carries an `error`."""
    if data.startswith(b'{"error"'):
        return RpcError.model_validate_json(data[len(b'{"error":') : -1])
    return model.model_validate_json(data)


def encode_error(code: ErrorCode, message: str, param: str | None = None) -> bytes:
    return b'{"error":' + RpcError(code=code, message=message, param=param).model_dump_json().encode() + b"}"


# Administration of projects and keys, answered by accounting.


# The share of the daily cap at which a budget threshold event is published.
DEFAULT_ALERT_THRESHOLD = Decimal("0.8")
AlertThreshold = Annotated[PlainDecimal, Field(gt=0, le=1)]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: DisplayName
    daily_budget_usd: BudgetCap | None = None
    # An IANA time zone name; the project's budget day starts at midnight there.
    timezone: str = "UTC"
    budget_alert_threshold: AlertThreshold = DEFAULT_ALERT_THRESHOLD


class ProjectUpdate(BaseModel):
    """Fields left out stay as they are; `daily_budget_usd: null` removes the cap."""

    model_config = ConfigDict(extra="forbid")

    project_id: str
    name: DisplayName | None = None
    daily_budget_usd: BudgetCap | None = None
    timezone: str | None = None
    disabled: bool | None = None
    budget_alert_threshold: AlertThreshold | None = None


class ProjectRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str


class ProjectListRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Project(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    timezone: str
    daily_budget_usd: PlainDecimal | None
    budget_alert_threshold: PlainDecimal
    disabled: bool
    created_at: datetime


class ProjectList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[Project]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    name: DisplayName | None = None
    daily_budget_usd: BudgetCap | None = None


class KeyRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    key_id: str


class KeyInfo(BaseModel):
    """An API key without its secret."""

    model_config = ConfigDict(extra="forbid")

    id: str
    project_id: str
    name: str | None
    # The first characters of the secret, to tell keys apart.
    prefix: str
    daily_budget_usd: PlainDecimal | None
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyInfo):
    """A new key; `key` is its secret, returned only this once."""

    key: str


class KeyList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[KeyInfo]


# Administration of the catalog (models, their prices and aliases), handled by the catalog service.

CatalogSource = Literal["file", "admin"]


class AdminModel(BaseModel):
    """A catalog entry as admins see it, retired ones included."""

    model_config = ConfigDict(extra="forbid")

    entry: CatalogEntry
    # `file` entries follow the catalog file; `admin` entries were changed
    # through the admin API and the file no longer overwrites them.
    source: CatalogSource
    retired: bool
    updated_at: datetime


class AdminModelList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[AdminModel]


class ModelListRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: str


class ModelChanges(BaseModel):
    """Fields of a catalog entry to change; fields left out stay as they are.

    `retired: false` brings a retired model back. The id and the provider
    cannot change: add a new model instead.
    """

    model_config = ConfigDict(extra="forbid")

    upstream_name: str | None = None
    display_name: str | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    capabilities: list[Capability] | None = None
    reasoning: ReasoningSpec | None = None
    prices: list[Price] | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    retired: bool | None = None


class ModelUpdate(ModelChanges):
    model_id: str


class PriceChange(BaseModel):
    """A price that takes effect on `price.effective_from`, today or later."""

    model_config = ConfigDict(extra="forbid")

    model_id: str
    price: Price


class PriceRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: str
    effective_from: date


class AliasSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alias: AliasName
    # A model id, or an alias that the catalog rejects with the model it stands for.
    model: ModelId | AliasName


class AliasRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alias: str


class AliasListRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AliasList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[ModelAlias]


class KeyUpdate(BaseModel):
    """Fields left out stay as they are; `daily_budget_usd: null` removes the key's cap."""

    model_config = ConfigDict(extra="forbid")

    project_id: str
    key_id: str
    name: str | None = Field(default=None, max_length=200)
    daily_budget_usd: BudgetCap | None = None


# Budgets and reconciliation, for operators.


class BudgetState(BaseModel):
    """One cap on one budget day: what it allows, what is spent and what is reserved by running requests."""

    model_config = ConfigDict(extra="forbid")

    cap_usd: PlainDecimal | None
    spent_usd: PlainDecimal
    reserved_usd: PlainDecimal
    remaining_usd: PlainDecimal | None


class KeyBudgetStatus(BudgetState):
    key_id: str


class BudgetStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    timezone: str
    day: date
    resets_at: datetime
    budget_alert_threshold: PlainDecimal
    project: BudgetState
    keys: list[KeyBudgetStatus]


class ReconcileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    # Inclusive UTC days.
    start: date
    end: date


class ReconcileDay(BaseModel):
    """One UTC day of a project as PostgreSQL and ClickHouse record it."""

    model_config = ConfigDict(extra="forbid")

    day: date
    postgres_requests: int
    postgres_usd: PlainDecimal
    clickhouse_requests: int
    clickhouse_usd: PlainDecimal
    # The same sums read from the hourly rollup that analytics are served from.
    rollup_requests: int
    rollup_usd: PlainDecimal
    # Events of all projects that PostgreSQL recorded and the outbox has not delivered to ClickHouse yet.
    pending_requests: int
    matches: bool


class ReconcileReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    days: list[ReconcileDay]
    matches: bool


# Analytics, served from ClickHouse's rollups.

AnalyticsDimension = Literal["model", "provider", "key"]
Granularity = Literal["hour", "day"]


class AnalyticsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    # Half-open range [start, end), UTC.
    start: datetime
    end: datetime
    # None returns totals only.
    granularity: Granularity | None = None
    group_by: list[AnalyticsDimension] = Field(default_factory=list)
    # Only this key's requests, when set.
    key_id: str | None = None
    # IANA name for day boundaries; None uses the project's time zone.
    timezone: str | None = None


class Percentiles(BaseModel):
    """Approximate percentiles in milliseconds; None without data."""

    model_config = ConfigDict(extra="forbid")

    p50: float | None
    p90: float | None
    p99: float | None


class AnalyticsRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Start of the hour or day, in the requested time zone; None for totals.
    period: datetime | None = None
    model: str | None = None
    provider: str | None = None
    key_id: str | None = None
    requests: int
    errors: int
    error_rate: float
    tokens: dict[str, int]
    cost_usd: dict[str, PlainDecimal]
    latency_ms: Percentiles
    ttft_ms: Percentiles


class AnalyticsReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    timezone: str
    totals: AnalyticsRow
    rows: list[AnalyticsRow]


# The newest requests of one project, one row each, for a live view.

MAX_RECENT_REQUESTS = 200


class RecentRequestsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    limit: int = Field(default=50, ge=1, le=MAX_RECENT_REQUESTS)


class RecentRequest(BaseModel):
    """One finished request as accounting recorded it; costs in USD."""

    model_config = ConfigDict(extra="forbid")

    request_id: str
    key_id: str
    model: str
    provider: str
    status: str
    http_status: int
    # Empty for a request that succeeded.
    error_code: str
    stream: bool
    # None for a request outside a session.
    session_id: str | None
    started_at: datetime
    latency_ms: float
    # None when no token reached the client (an error, or a reply without content).
    ttft_ms: float | None
    tokens: dict[str, int]
    cost_usd: PlainDecimal


class RecentRequests(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    # The newest first.
    data: list[RecentRequest]
