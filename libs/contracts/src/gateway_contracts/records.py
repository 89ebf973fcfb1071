"""Values of the NATS KV buckets that services publish for each other to read."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from gateway_contracts.money import PlainDecimal, UnitPrice

CredentialKind = Literal["api_key", "admin_token"]


class CredentialRecord(BaseModel):
    """A live credential, keyed in `bus.AUTH_BUCKET` by the SHA-256 of its secret.

    Revoking a credential deletes its key, so the bucket holds only credentials
    that authenticate.
    """

    model_config = ConfigDict(extra="forbid")

    kind: CredentialKind
    key_id: str
    # None for an admin token, which is not bound to a project.
    project_id: str | None = None
    name: str | None = None


ProviderMode = Literal["live", "emulated", "unconfigured"]


class ProviderStatus(BaseModel):
    """How the router reaches a provider, keyed in `bus.PROVIDERS_BUCKET` by its name."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    mode: ProviderMode
    # The environment variable that would make an unconfigured or emulated provider live.
    credential_env: str | None = None
    updated_at: datetime


Capability = Literal[
    "text",
    "vision",
    "pdf",
    "audio_input",
    "audio_output",
    "tools",
    "structured_output",
    "reasoning",
    "streaming",
]


ReasoningStyle = Literal[
    # OpenAI's `reasoning_effort`; reasoning text is not returned.
    "openai_effort",
    # Anthropic's `thinking: {type: "enabled", budget_tokens}`.
    "anthropic_budget",
    # Anthropic's `thinking: {type: "adaptive"}` with `output_config.effort`.
    "anthropic_adaptive",
    # Gemini's `thinkingConfig.thinkingBudget`.
    "gemini_budget",
    # Gemini's `thinkingConfig.thinkingLevel`.
    "gemini_level",
    # DeepSeek's `thinking: {type: "enabled" | "disabled"}`.
    "deepseek",
    # A model that always reasons and takes no switch.
    "always_on",
    # An OpenAI-compatible server's own switch, set per provider in the router.
    "provider_switch",
]


class ReasoningSpec(BaseModel):
    """How a model reasons and which limits its provider enforces; unknown limits stay None."""

    model_config = ConfigDict(extra="forbid")

    style: ReasoningStyle
    min_budget_tokens: int | None = Field(default=None, ge=0)
    max_budget_tokens: int | None = Field(default=None, ge=1)
    # Effort values the model accepts, for effort-based styles.
    efforts: list[str] | None = None
    # False when the model cannot turn reasoning off (Gemini 2.5 Pro, DeepSeek's reasoner).
    can_disable: bool = True
    # Whether the provider returns reasoning text, or only counts reasoning tokens.
    returns_text: bool = True


class TokenPrices(BaseModel):
    """USD per million tokens of each kind; None where the kind has no price of its own."""

    model_config = ConfigDict(extra="forbid")

    input: UnitPrice | None = None
    cached_input: UnitPrice | None = None
    # Writes to a prompt cache that lives five minutes (Anthropic's default) or
    # for an unstated time; `cache_write_1h` prices Anthropic's one-hour writes.
    cache_write: UnitPrice | None = None
    cache_write_1h: UnitPrice | None = None
    output: UnitPrice | None = None
    reasoning: UnitPrice | None = None
    audio_input: UnitPrice | None = None
    audio_output: UnitPrice | None = None


class PriceTier(TokenPrices):
    """Prices that replace the base prices for a request whose prompt exceeds `above_prompt_tokens`.

    Gemini 2.5 Pro and Claude's one-million-token context, for example,
    charge every token of a request more once its prompt passes 200,000
    tokens. A price left None in the tier keeps the base price.
    """

    above_prompt_tokens: int = Field(ge=0)


class Price(TokenPrices):
    """Prices in force from `effective_from` (UTC day) on.

    Token prices are USD per million tokens; `per_input_image`,
    `per_output_image` and `per_request` are USD per unit, for providers that
    charge so. A None price is unknown, which is not the same as zero: the
    router charges nothing for it and marks the cost as incomplete.
    """

    effective_from: date
    per_input_image: UnitPrice | None = None
    per_output_image: UnitPrice | None = None
    per_request: UnitPrice | None = None
    tiers: list[PriceTier] = Field(default_factory=list)
    source: str | None = None

    def for_prompt(self, prompt_tokens: int) -> TokenPrices:
        """Return the token prices that apply to a request with `prompt_tokens` of prompt."""
        tier = None
        for candidate in sorted(self.tiers, key=lambda item: item.above_prompt_tokens):
            if prompt_tokens > candidate.above_prompt_tokens:
                tier = candidate
        if tier is None:
            return self
        base = self.model_dump(include=set(TokenPrices.model_fields))
        overrides = tier.model_dump(include=set(TokenPrices.model_fields), exclude_none=True)
        return TokenPrices(**{**base, **overrides})


# A provider name as the router's provider registry spells it, or any such
# name for a custom model.
ProviderName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
# `provider/model`. The model part may contain further slashes and the
# characters that upstream names use (`ollama/llama3:8b`).
ModelId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}/[A-Za-z0-9._:@+/-]+$", max_length=256)]
# An alias contains no slash, so it can never be mistaken for a model id.
AliasName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]

# Custom models name the router's environment variable that contains their
# API key. The prefix keeps an admin from sending another provider's key (say
# `OPENAI_API_KEY`) to a server of their choosing.
CUSTOM_KEY_ENV_PREFIX = "GATEWAY_MODEL_KEY_"


class CatalogEntry(BaseModel):
    """One model that clients can name, keyed in `bus.CATALOG_BUCKET` by `catalog_key(id)`."""

    model_config = ConfigDict(extra="forbid")

    id: ModelId
    provider: ProviderName
    upstream_name: str = Field(min_length=1, max_length=256)
    display_name: str | None = None
    context_window: int | None = Field(default=None, ge=1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    capabilities: list[Capability] = Field(default_factory=lambda: ["text", "streaming"])
    # Set exactly for models with the `reasoning` capability.
    reasoning: ReasoningSpec | None = None
    prices: list[Price] = Field(default_factory=list)
    # Models tried in order when this one fails upstream, after the request's own `models`.
    fallbacks: list[ModelId] = Field(default_factory=list)
    # A custom model on a self-hosted OpenAI-compatible server: its base URL
    # and the router's environment variable that contains its API key, if any
    # (named `GATEWAY_MODEL_KEY_<NAME>`).
    base_url: str | None = None
    api_key_env: str | None = None
    # Unix time the entry was first published, for OpenAI's `created` field.
    created: int = 0

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("`base_url` must be an http:// or https:// URL with a host")
        if parts.username or parts.password:
            raise ValueError("`base_url` must not contain credentials; name the key's variable in `api_key_env`")
        if parts.query or parts.fragment:
            raise ValueError("`base_url` must not have a query or a fragment")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _check_api_key_env(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(rf"{CUSTOM_KEY_ENV_PREFIX}[A-Z0-9_]+", value):
            raise ValueError(f"`api_key_env` must be an environment variable named `{CUSTOM_KEY_ENV_PREFIX}<NAME>`")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> CatalogEntry:
        if not self.id.startswith(f"{self.provider}/"):
            raise ValueError(f"the model id `{self.id}` must start with its provider, `{self.provider}/`")
        if self.api_key_env is not None and self.base_url is None:
            raise ValueError("`api_key_env` is only for custom models, which also set `base_url`")
        if ("reasoning" in self.capabilities) != (self.reasoning is not None):
            raise ValueError("a model has the `reasoning` capability exactly when it has a `reasoning` spec")
        dates = [price.effective_from for price in self.prices]
        if len(dates) != len(set(dates)):
            raise ValueError("two prices of a model have the same `effective_from`")
        return self

    def price_at(self, day: date) -> Price | None:
        """Return the price in force on `day`, or None when none had started."""
        current: Price | None = None
        for price in sorted(self.prices, key=lambda item: item.effective_from):
            if price.effective_from > day:
                break
            current = price
        return current


_KEY_UNSAFE = re.compile(r"[^-/_.a-zA-Z0-9]")


def catalog_key(model_id: str) -> str:
    """Encode a model id as a KV key, which allows only `[-/_=.a-zA-Z0-9]`.

    Other characters (`:` in `ollama/llama3:8b`) become `=` and two hex
    digits, and `=` itself is escaped, so the encoding is reversible.
    """
    return _KEY_UNSAFE.sub(lambda match: "".join(f"={byte:02X}" for byte in match.group().encode()), model_id)


class ModelAlias(BaseModel):
    """A second name for a model, keyed in `bus.ALIAS_BUCKET` by the alias.

    The edge resolves an alias to its model before dispatch, so the router and
    the usage events see only catalog ids.
    """

    model_config = ConfigDict(extra="forbid")

    alias: AliasName
    model: ModelId
    updated_at: datetime


class DaySpend(BaseModel):
    """What accounting has recorded for one budget day."""

    model_config = ConfigDict(extra="forbid")

    spent_usd: PlainDecimal = Decimal(0)
    # The sum of the reservations of the recorded requests, which the edges
    # subtract from their ledger's reserved total to get what is still in flight.
    settled_reserved_usd: PlainDecimal = Decimal(0)


class KeyBudget(BaseModel):
    """A capped API key's daily cap and recorded spend, by budget day."""

    model_config = ConfigDict(extra="forbid")

    cap_usd: PlainDecimal
    days: dict[date, DaySpend] = Field(default_factory=dict)


class BudgetRecord(BaseModel):
    """A project's daily budget, keyed in `bus.BUDGET_BUCKET` by the project id.

    Accounting writes one for every project with a cap or with a capped key,
    and deletes it when neither has one; the edge treats a project without a
    record as uncapped. `days` holds the budget days (in `timezone`) that
    accounting recorded spend for lately, so a request near midnight finds
    its own day whichever clock is ahead.
    """

    model_config = ConfigDict(extra="forbid")

    project_id: str
    timezone: str = "UTC"
    cap_usd: PlainDecimal | None = None
    days: dict[date, DaySpend] = Field(default_factory=dict)
    keys: dict[str, KeyBudget] = Field(default_factory=dict)
    updated_at: datetime


class LedgerRecord(BaseModel):
    """The reservations of one project for one budget day, keyed in `bus.LEDGER_BUCKET` by `ledger_key`.

    Edges add each admitted request's worst-case cost with a compare-and-set
    on the key, so that every edge replica admits against the same total.
    The totals only grow during a request; accounting's `settled_reserved_usd`
    says how much of them belongs to requests that have finished and been
    recorded.
    """

    model_config = ConfigDict(extra="forbid")

    reserved_usd: PlainDecimal = Decimal(0)
    # Reservations against capped keys, by key id.
    keys: dict[str, PlainDecimal] = Field(default_factory=dict)


def ledger_key(project_id: str, day: date) -> str:
    """The `bus.LEDGER_BUCKET` key of a project's budget day."""
    return f"{project_id}.{day.isoformat()}"
