"""One reasoning ("thinking") request for every model family.

A client asks for reasoning in one of four spellings, read in this order of
precedence: the gateway's `thinking` object, OpenRouter's `reasoning` object,
OpenAI's `reasoning_effort`, and a `:thinking` suffix on the model id. The
result is a `ThinkingRequest`. `plan_reasoning` then fits it to one catalog
entry: it converts between effort and budget with `EFFORT_BUDGETS`, clamps to
the model's limits and rejects combinations the provider would reject, so
that the edge can reject a request with 400 before any upstream call and the
router knows exactly what to send.

Effort and budget convert through `EFFORT_BUDGETS`, the one table of the
gateway. An effort becomes the budget in its row. A budget becomes the
lowest effort whose row is at least that budget, so 10000 becomes `medium`
and anything above the last row becomes `max`. `none` means reasoning off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gateway_contracts.chat import RequestProblem
from gateway_contracts.records import CatalogEntry, ReasoningSpec

# Reasoning tokens per effort, from the least reasoning to the most.
EFFORT_BUDGETS: dict[str, int] = {
    "minimal": 1024,
    "low": 4096,
    "medium": 16384,
    "high": 32768,
    "xhigh": 49152,
    "max": 65536,
}
EFFORT_LEVELS: tuple[str, ...] = tuple(EFFORT_BUDGETS)

THINKING_SUFFIX = ":thinking"

# The request fields that spell a reasoning request. The router removes them
# and each adapter writes its provider's own fields instead.
REASONING_FIELDS: frozenset[str] = frozenset({"thinking", "reasoning", "reasoning_effort"})

# Output tokens left for the reply when a budget-style model needs
# `max_tokens` and the client sent none.
DEFAULT_ANSWER_TOKENS = 8192

_ANTHROPIC_MIN_TOP_P = 0.95


def budget_for_effort(effort: str) -> int:
    """Return the reasoning budget in tokens for `effort`, per `EFFORT_BUDGETS`."""
    return EFFORT_BUDGETS[effort]


def effort_for_budget(budget_tokens: int) -> str:
    """Return the lowest effort whose budget covers `budget_tokens`, per `EFFORT_BUDGETS`."""
    for effort, budget in EFFORT_BUDGETS.items():
        if budget_tokens <= budget:
            return effort
    return EFFORT_LEVELS[-1]


def nearest_effort(effort: str, accepted: Sequence[str] | None) -> str:
    """Map `effort` to the closest one that a model accepts; a tie goes to the higher one."""
    if not accepted or effort in accepted:
        return effort
    levels = [level for level in EFFORT_LEVELS if level in accepted]
    if not levels:
        return effort
    wanted = EFFORT_LEVELS.index(effort)
    return min(levels, key=lambda level: (abs(EFFORT_LEVELS.index(level) - wanted), -EFFORT_LEVELS.index(level)))


def split_thinking_suffix(model: str) -> tuple[str, bool]:
    """Split `anthropic/claude-sonnet-4:thinking` into the model id and whether the suffix was there."""
    if model.endswith(THINKING_SUFFIX) and len(model) > len(THINKING_SUFFIX):
        return model[: -len(THINKING_SUFFIX)], True
    return model, False


@dataclass(frozen=True, slots=True)
class ThinkingRequest:
    """The client's reasoning request, whichever spelling it used."""

    enabled: bool
    budget_tokens: int | None = None
    effort: str | None = None
    # Reply without reasoning, instead of failing, on a model that cannot reason.
    optional: bool = False
    # The field the request came from, so that errors name what the client wrote.
    source: str = "thinking"

    @property
    def budget_param(self) -> str:
        return "reasoning.max_tokens" if self.source == "reasoning" else f"{self.source}.budget_tokens"


def requested_thinking(
    thinking: Mapping[str, Any] | None,
    reasoning: Mapping[str, Any] | None,
    reasoning_effort: str | None,
    suffix: bool = False,
) -> ThinkingRequest | None:
    """Read the client's reasoning request from whichever field carries it, or None if none does.

    The fields were validated by `ChatCompletionRequest` at the edge.
    """
    if thinking is not None:
        effort = thinking.get("effort")
        return ThinkingRequest(
            enabled=bool(thinking.get("enabled", True)) and effort != "none",
            budget_tokens=thinking.get("budget_tokens"),
            effort=None if effort == "none" else effort,
            optional=bool(thinking.get("optional", False)),
        )
    if reasoning is not None:
        # NOTE: OpenRouter's `exclude` (reason but return no text) is not applied.
        effort = reasoning.get("effort")
        return ThinkingRequest(
            enabled=reasoning.get("enabled") is not False and effort != "none",
            budget_tokens=reasoning.get("max_tokens"),
            effort=None if effort == "none" else effort,
            source="reasoning",
        )
    if reasoning_effort is not None:
        if reasoning_effort == "none":
            return ThinkingRequest(enabled=False, source="reasoning_effort")
        return ThinkingRequest(enabled=True, effort=reasoning_effort, source="reasoning_effort")
    if suffix:
        return ThinkingRequest(enabled=True, source="model")
    return None


@dataclass(frozen=True, slots=True)
class ReasoningPlan:
    """What the router sends for one request on one model, already fitted to the model's limits.

    Both `effort` and `budget_tokens` are filled when the client gave either,
    so each adapter takes the one its provider understands. `by_budget` is
    true when the client gave the budget, for providers that take both.
    """

    enabled: bool
    effort: str | None = None
    budget_tokens: int | None = None
    by_budget: bool = False
    # Whether to ask the provider for the reasoning text; false when the
    # client turned reasoning off on a model that cannot stop reasoning.
    visible: bool = True
    # Set when the provider needs `max_tokens` above the budget.
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """The request fields that reasoning rules constrain."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    tool_choice: str | Mapping[str, Any] | None = None


class ReasoningNotSupported(RequestProblem):
    """Reasoning was requested on a model without the `reasoning` capability."""

    def __init__(self, model: str, source: str) -> None:
        super().__init__(f"The model `{model}` cannot reason, but the request asks for reasoning.", source)
        self.model = model


def plan_reasoning(
    requested: ThinkingRequest | None, entry: CatalogEntry, sampling: SamplingParams
) -> ReasoningPlan | None:
    """Fit the client's reasoning request to `entry`, or return None to keep the provider's default.

    Raises `ReasoningNotSupported` when the model cannot reason and the
    request does not allow that, and `RequestProblem` for a combination the
    provider would reject.
    """
    if requested is None:
        return None
    spec = entry.reasoning if "reasoning" in entry.capabilities else None
    if spec is None:
        if requested.enabled and not requested.optional:
            raise ReasoningNotSupported(entry.id, requested.source)
        return None
    if spec.style == "always_on":
        return ReasoningPlan(enabled=True, visible=requested.enabled)
    if not requested.enabled:
        return ReasoningPlan(enabled=False) if spec.can_disable else _least_reasoning(spec)

    effort = requested.effort
    budget = requested.budget_tokens
    if effort is None and budget is not None:
        effort = effort_for_budget(budget)
    if budget is None and effort is not None:
        budget = budget_for_effort(effort)
    plan = ReasoningPlan(
        enabled=True,
        effort=nearest_effort(effort, spec.efforts) if effort else None,
        budget_tokens=_clamp(budget, spec) if budget is not None else None,
        by_budget=requested.budget_tokens is not None,
    )

    if spec.style == "anthropic_budget":
        plan = _fit_under_max_tokens(plan, requested, entry, spec, sampling.max_tokens)
    if spec.style in ("anthropic_budget", "anthropic_adaptive"):
        _check_anthropic_sampling(entry, sampling)
    return plan


def _least_reasoning(spec: ReasoningSpec) -> ReasoningPlan:
    efforts = [level for level in EFFORT_LEVELS if spec.efforts is None or level in spec.efforts]
    effort = efforts[0] if efforts else None
    budget = spec.min_budget_tokens or (budget_for_effort(effort) if effort else None)
    return ReasoningPlan(enabled=True, effort=effort, budget_tokens=budget, visible=False)


def _clamp(budget: int, spec: ReasoningSpec) -> int:
    if spec.min_budget_tokens is not None and budget < spec.min_budget_tokens:
        return spec.min_budget_tokens
    if spec.max_budget_tokens is not None and budget > spec.max_budget_tokens:
        return spec.max_budget_tokens
    return budget


def _fit_under_max_tokens(
    plan: ReasoningPlan, requested: ThinkingRequest, entry: CatalogEntry, spec: ReasoningSpec, max_tokens: int | None
) -> ReasoningPlan:
    """Keep the budget below `max_tokens`, which Anthropic's budget style requires.

    Thinking counts toward `max_tokens`. Without `max_tokens` from the client,
    the plan leaves `DEFAULT_ANSWER_TOKENS` for the answer within the model's
    maximum output. A budget the client wrote that does not fit is rejected;
    one derived from an effort is halved to fit.
    """
    budget = plan.budget_tokens or _clamp(budget_for_effort("medium"), spec)
    minimum = spec.min_budget_tokens or 1
    client_max_tokens = max_tokens
    if max_tokens is None:
        max_tokens = budget + DEFAULT_ANSWER_TOKENS
        if entry.max_output_tokens is not None:
            max_tokens = min(max_tokens, entry.max_output_tokens)
    if budget < max_tokens:
        return replace(plan, budget_tokens=budget, max_tokens=max_tokens)

    if requested.budget_tokens is not None:
        accepted = f"between {minimum} and {max_tokens - 1}" if max_tokens > minimum else "lower"
        if client_max_tokens is None:
            reason = f"reasoning counts toward the output, which this model caps at {max_tokens} tokens"
        else:
            reason = f"reasoning counts toward `max_tokens` ({max_tokens}); lower the budget or raise `max_tokens`"
        raise RequestProblem(
            f"`{requested.budget_param}` is {requested.budget_tokens}, but on `{entry.id}` it must be "
            f"{accepted}, because {reason}.",
            requested.budget_param,
        )
    budget = max_tokens // 2
    if budget < minimum:
        raise RequestProblem(
            f"`max_tokens` ({max_tokens}) leaves no room for reasoning on `{entry.id}`, which needs a budget "
            f"of at least {minimum} tokens below `max_tokens`; raise `max_tokens` or turn reasoning off.",
            "max_tokens",
        )
    return replace(plan, budget_tokens=budget, max_tokens=max_tokens)


def _check_anthropic_sampling(entry: CatalogEntry, sampling: SamplingParams) -> None:
    """Reject what Anthropic rejects while thinking: other temperatures, low `top_p`, forced tool use."""
    if sampling.temperature is not None and sampling.temperature != 1:
        raise RequestProblem(
            f"`temperature` must be 1 or unset when reasoning is on for `{entry.id}`; remove it or turn reasoning off.",
            "temperature",
        )
    if sampling.top_p is not None and sampling.top_p < _ANTHROPIC_MIN_TOP_P:
        raise RequestProblem(
            f"`top_p` must be between {_ANTHROPIC_MIN_TOP_P} and 1 when reasoning is on for `{entry.id}`.",
            "top_p",
        )
    choice = sampling.tool_choice
    if choice == "required" or (isinstance(choice, Mapping) and choice.get("type") == "function"):
        raise RequestProblem(
            f"`tool_choice` cannot force a tool call when reasoning is on for `{entry.id}`; "
            f'use "auto" or "none", or turn reasoning off.',
            "tool_choice",
        )
