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


class HistoryReply(BaseModel):
    """A session's messages in the order they were appended; empty for a new session."""

    model_config = ConfigDict(extra="forbid")

    messages: list[dict[str, Any]]


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
    cost_usd: Decimal


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


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: DisplayName
    daily_budget_usd: Decimal | None = Field(default=None, ge=0)
    # An IANA time zone name; the project's budget day starts at midnight there.
    timezone: str = "UTC"


class ProjectUpdate(BaseModel):
    """Fields left out stay as they are; `daily_budget_usd: null` removes the cap."""

    model_config = ConfigDict(extra="forbid")

    project_id: str
    name: DisplayName | None = None
    daily_budget_usd: Decimal | None = Field(default=None, ge=0)
    timezone: str | None = None
    disabled: bool | None = None


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
    daily_budget_usd: Decimal | None
    disabled: bool
    created_at: datetime


class ProjectList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[Project]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str
    name: DisplayName | None = None
    daily_budget_usd: Decimal | None = Field(default=None, ge=0)


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
    daily_budget_usd: Decimal | None
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
    model: ModelId


class AliasRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alias: str


class AliasListRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AliasList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[ModelAlias]
