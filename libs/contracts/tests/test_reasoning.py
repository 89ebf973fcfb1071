"""The reasoning request: its spellings, the effort and budget table, and the plan fitted to each model."""

from __future__ import annotations

import pytest

from gateway_contracts import (
    EFFORT_BUDGETS,
    CatalogEntry,
    ReasoningNotSupported,
    ReasoningPlan,
    ReasoningSpec,
    RequestProblem,
    SamplingParams,
    ThinkingRequest,
    budget_for_effort,
    effort_for_budget,
    plan_reasoning,
    requested_thinking,
    split_thinking_suffix,
)
from gateway_contracts.reasoning import nearest_effort


def entry(spec: ReasoningSpec | None, max_output_tokens: int | None = 64000) -> CatalogEntry:
    capabilities = ["text", "reasoning"] if spec else ["text"]
    return CatalogEntry(
        id="a/model",
        provider="a",
        upstream_name="model",
        capabilities=capabilities,
        reasoning=spec,
        max_output_tokens=max_output_tokens,
    )


ANTHROPIC = ReasoningSpec(style="anthropic_budget", min_budget_tokens=1024)
NONE = SamplingParams()


def test_table_round_trips_every_effort() -> None:
    for effort, budget in EFFORT_BUDGETS.items():
        assert budget_for_effort(effort) == budget
        assert effort_for_budget(budget) == effort


@pytest.mark.parametrize(
    ("budget", "effort"), [(1, "minimal"), (1025, "low"), (10000, "medium"), (16385, "high"), (10**6, "max")]
)
def test_budget_maps_to_lowest_covering_effort(budget: int, effort: str) -> None:
    assert effort_for_budget(budget) == effort


@pytest.mark.parametrize(
    ("effort", "accepted", "expected"),
    [
        ("medium", ["low", "medium", "high"], "medium"),
        ("medium", ["low", "high"], "high"),
        ("minimal", ["low", "high"], "low"),
        ("xhigh", ["low", "high", "max"], "max"),
        ("max", ["low", "high"], "high"),
        ("medium", None, "medium"),
    ],
)
def test_nearest_effort(effort: str, accepted: list[str] | None, expected: str) -> None:
    assert nearest_effort(effort, accepted) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"thinking": {"enabled": True, "budget_tokens": 5}}, ThinkingRequest(True, budget_tokens=5)),
        ({"thinking": {"effort": "none"}}, ThinkingRequest(False)),
        ({"thinking": {"enabled": True, "optional": True}}, ThinkingRequest(True, optional=True)),
        ({"reasoning": {"max_tokens": 9}}, ThinkingRequest(True, budget_tokens=9, source="reasoning")),
        ({"reasoning": {"enabled": False}}, ThinkingRequest(False, source="reasoning")),
        ({"reasoning_effort": "high"}, ThinkingRequest(True, effort="high", source="reasoning_effort")),
        ({"reasoning_effort": "none"}, ThinkingRequest(False, source="reasoning_effort")),
        ({"suffix": True}, ThinkingRequest(True, source="model")),
        ({}, None),
    ],
)
def test_every_spelling_is_read(fields: dict, expected: ThinkingRequest | None) -> None:
    requested = requested_thinking(
        fields.get("thinking"), fields.get("reasoning"), fields.get("reasoning_effort"), fields.get("suffix", False)
    )

    assert requested == expected


def test_thinking_wins_over_the_aliases() -> None:
    requested = requested_thinking({"budget_tokens": 7}, {"effort": "low"}, "high")

    assert requested == ThinkingRequest(True, budget_tokens=7)


def test_suffix_is_split_only_at_the_end() -> None:
    assert split_thinking_suffix("anthropic/claude:thinking") == ("anthropic/claude", True)
    assert split_thinking_suffix("ollama/qwen3:8b") == ("ollama/qwen3:8b", False)
    assert split_thinking_suffix(":thinking") == (":thinking", False)


def test_model_without_reasoning_rejects_unless_optional() -> None:
    with pytest.raises(ReasoningNotSupported) as caught:
        plan_reasoning(ThinkingRequest(True, source="reasoning_effort"), entry(None), NONE)

    assert caught.value.model == "a/model"
    assert caught.value.param == "reasoning_effort"
    assert plan_reasoning(ThinkingRequest(True, optional=True), entry(None), NONE) is None
    assert plan_reasoning(ThinkingRequest(False), entry(None), NONE) is None


def test_plan_fills_effort_and_budget_from_either() -> None:
    spec = ReasoningSpec(style="provider_switch", efforts=["low", "high"], max_budget_tokens=20000)

    by_budget = plan_reasoning(ThinkingRequest(True, budget_tokens=30000), entry(spec), NONE)
    by_effort = plan_reasoning(ThinkingRequest(True, effort="medium"), entry(spec), NONE)

    assert by_budget == ReasoningPlan(True, effort="high", budget_tokens=20000, by_budget=True)
    assert by_effort == ReasoningPlan(True, effort="high", budget_tokens=16384)


def test_model_that_cannot_stop_reasoning_gets_least_reasoning() -> None:
    spec = ReasoningSpec(style="gemini_budget", min_budget_tokens=128, can_disable=False)

    plan = plan_reasoning(ThinkingRequest(False), entry(spec), NONE)

    assert plan == ReasoningPlan(True, effort="minimal", budget_tokens=128, visible=False)


def test_anthropic_budget_leaves_room_for_the_answer() -> None:
    plan = plan_reasoning(ThinkingRequest(True, budget_tokens=10000), entry(ANTHROPIC), NONE)

    assert plan.budget_tokens == 10000
    assert plan.max_tokens == 18192


def test_anthropic_default_max_tokens_stays_within_maximum_output() -> None:
    plan = plan_reasoning(ThinkingRequest(True, effort="max"), entry(ANTHROPIC, max_output_tokens=64000), NONE)

    assert plan.max_tokens == 64000
    assert plan.budget_tokens == 32000


def test_anthropic_explicit_budget_above_max_tokens_is_rejected() -> None:
    with pytest.raises(RequestProblem) as caught:
        plan_reasoning(ThinkingRequest(True, budget_tokens=5000), entry(ANTHROPIC), SamplingParams(max_tokens=4000))

    assert caught.value.param == "thinking.budget_tokens"


@pytest.mark.parametrize(
    ("sampling", "param"),
    [
        (SamplingParams(temperature=0.2), "temperature"),
        (SamplingParams(top_p=0.5), "top_p"),
        (SamplingParams(tool_choice="required"), "tool_choice"),
        (SamplingParams(tool_choice={"type": "function", "function": {"name": "f"}}), "tool_choice"),
    ],
)
def test_anthropic_sampling_rules_while_thinking(sampling: SamplingParams, param: str) -> None:
    with pytest.raises(RequestProblem) as caught:
        plan_reasoning(ThinkingRequest(True), entry(ANTHROPIC), sampling)

    assert caught.value.param == param


def test_anthropic_sampling_rules_do_not_apply_when_off() -> None:
    plan = plan_reasoning(ThinkingRequest(False), entry(ANTHROPIC), SamplingParams(temperature=0.2))

    assert plan == ReasoningPlan(False)
