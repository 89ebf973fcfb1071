"""The reasoning request in every spelling, fitted to each model, and the 400s raised before any upstream call."""

from __future__ import annotations

import re
from typing import Any

import openai
import pytest

from tests.conftest import RunningStack
from tests.providers import received, received_all, unique


def send(stack: RunningStack, model: str, marker: str, **extra_body: Any) -> Any:
    fields = {key: value for key, value in extra_body.items() if key in ("max_tokens", "temperature", "tool_choice")}
    body = {key: value for key, value in extra_body.items() if key not in fields}
    return stack.client().chat.completions.create(
        model=model, messages=[{"role": "user", "content": marker}], extra_body=body, **fields
    )


def upstream_fields(stack: RunningStack, marker: str, *names: str) -> dict[str, Any]:
    body = received(stack, marker)["body"]
    return {name: body.get(name) for name in names}


@pytest.mark.parametrize(
    ("model", "request_fields", "names", "expected"),
    [
        # OpenAI's `reasoning_effort` on Anthropic: `high` is a budget of 32768, plus 8192 for the answer.
        (
            "anthropic/claude-sonnet-4",
            {"reasoning_effort": "high"},
            ("thinking", "max_tokens"),
            {"thinking": {"type": "enabled", "budget_tokens": 32768}, "max_tokens": 40960},
        ),
        # A budget below Anthropic's minimum of 1024 is raised to it.
        (
            "anthropic/claude-sonnet-4",
            {"thinking": {"budget_tokens": 500}},
            ("thinking", "max_tokens"),
            {"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 9216},
        ),
        # An effort whose budget does not fit under `max_tokens` gets half of it.
        (
            "anthropic/claude-sonnet-4",
            {"thinking": {"effort": "high"}, "max_tokens": 20000},
            ("thinking", "max_tokens"),
            {"thinking": {"type": "enabled", "budget_tokens": 10000}, "max_tokens": 20000},
        ),
        # Adaptive-only Claude models take the effort; 10000 tokens is `medium`.
        (
            "anthropic/claude-opus-4-7",
            {"thinking": {"budget_tokens": 10000}},
            ("thinking", "output_config"),
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}},
        ),
        # ... and cannot stop thinking, so "off" is their least effort.
        (
            "anthropic/claude-opus-4-7",
            {"thinking": {"enabled": False}},
            ("thinking", "output_config"),
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}},
        ),
        # OpenRouter's `reasoning` object on OpenAI.
        ("openai/o4-mini", {"reasoning": {"effort": "high"}}, ("reasoning_effort",), {"reasoning_effort": "high"}),
        # ... and on OpenRouter itself, where it stays an object.
        (
            "openrouter/anthropic/claude-sonnet-4",
            {"reasoning_effort": "low"},
            ("reasoning", "reasoning_effort"),
            {"reasoning": {"effort": "low"}, "reasoning_effort": None},
        ),
        # xAI's Grok 3 Mini takes only `low` and `high`.
        ("xai/grok-3-mini", {"thinking": {"effort": "medium"}}, ("reasoning_effort",), {"reasoning_effort": "high"}),
    ],
)
def test_reasoning_spelling_translates_per_model(
    stack: RunningStack, model: str, request_fields: dict, names: tuple, expected: dict
) -> None:
    marker = unique("spelling")

    send(stack, model, marker, **request_fields)

    assert upstream_fields(stack, marker, *names) == expected


@pytest.mark.parametrize(
    ("model", "request_fields", "expected"),
    [
        (
            "google/gemini-2.5-flash",
            {"reasoning": {"max_tokens": 2000}},
            {"thinkingBudget": 2000, "includeThoughts": True},
        ),
        # Gemini 2.5 Flash rejects budgets above 24576, so a larger one is clamped to it.
        (
            "google/gemini-2.5-flash",
            {"thinking": {"budget_tokens": 32768}},
            {"thinkingBudget": 24576, "includeThoughts": True},
        ),
        # Gemini 3 takes a level; 10000 tokens is `medium`, which it lacks, and the tie goes up.
        (
            "google/gemini-3-pro-preview",
            {"thinking": {"budget_tokens": 10000}},
            {"thinkingLevel": "HIGH", "includeThoughts": True},
        ),
        # Gemini 2.5 Pro cannot stop thinking: "off" is its least budget, the catalog's
        # minimum of 128 tokens, without thought summaries.
        ("google/gemini-2.5-pro", {"thinking": {"enabled": False}}, {"thinkingBudget": 128, "includeThoughts": False}),
    ],
)
def test_gemini_thinking_config_per_model(
    stack: RunningStack, model: str, request_fields: dict, expected: dict
) -> None:
    marker = unique("gemini-config")

    send(stack, model, marker, **request_fields)

    assert received(stack, marker)["body"]["generationConfig"]["thinkingConfig"] == expected


def test_thinking_suffix_turns_reasoning_on(stack: RunningStack) -> None:
    marker = unique("suffix")

    completion = stack.client().chat.completions.create(
        model="anthropic/claude-sonnet-4:thinking", messages=[{"role": "user", "content": marker}]
    )

    assert completion.choices[0].message.model_extra["reasoning_content"].startswith("Let me think about")
    # Without a budget, the model reasons at `medium`: 16384 tokens.
    assert upstream_fields(stack, marker, "thinking", "model") == {
        "thinking": {"type": "enabled", "budget_tokens": 16384},
        "model": "claude-sonnet-4-20250514",
    }


def test_model_that_cannot_reason_is_400_listing_reasoning_models(stack: RunningStack) -> None:
    marker = unique("cannot-reason")

    with pytest.raises(openai.BadRequestError) as caught:
        send(stack, "openai/gpt-4o-mini", marker, thinking={"enabled": True, "budget_tokens": 2048})

    assert caught.value.code == "capability_not_supported"
    assert caught.value.body["param"] == "thinking"
    assert "`openai/gpt-4o-mini`" in caught.value.message
    listed = re.findall(r"`([a-z0-9-]+/[^`]+)`", caught.value.message.split("Models that can serve this request:")[1])
    reasoning = {model.id for model in stack.client().models.list() if "reasoning" in model.model_extra["capabilities"]}
    assert listed
    assert set(listed) <= reasoning
    assert received_all(stack, marker) == []


def test_optional_reasoning_answers_without_it(stack: RunningStack) -> None:
    marker = unique("optional")

    completion = send(stack, "openai/gpt-4o-mini", marker, thinking={"enabled": True, "optional": True})

    assert completion.choices[0].message.content.endswith(marker)
    assert received(stack, marker)["body"] == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": marker}],
    }


@pytest.mark.parametrize(
    ("model", "request_fields", "code", "param"),
    [
        ("openai/gpt-4o-mini", {"reasoning_effort": "low"}, "capability_not_supported", "reasoning_effort"),
        ("openai/gpt-4o-mini", {"reasoning": {"max_tokens": 100}}, "capability_not_supported", "reasoning"),
        (
            "anthropic/claude-sonnet-4",
            {"thinking": {"budget_tokens": 2048, "effort": "low"}},
            "invalid_request",
            "thinking",
        ),
        (
            "anthropic/claude-sonnet-4",
            {"thinking": {"enabled": False, "budget_tokens": 2048}},
            "invalid_request",
            "thinking",
        ),
        ("anthropic/claude-sonnet-4", {"thinking": {"effort": "huge"}}, "invalid_request", "thinking.effort"),
        (
            "anthropic/claude-sonnet-4",
            {"thinking": {"budget_tokens": 5000}, "max_tokens": 2000},
            "invalid_request",
            "thinking.budget_tokens",
        ),
        (
            "anthropic/claude-sonnet-4",
            {"reasoning_effort": "high", "max_tokens": 1500},
            "invalid_request",
            "max_tokens",
        ),
        (
            "anthropic/claude-sonnet-4",
            {"thinking": {"budget_tokens": 2048}, "temperature": 0.5},
            "invalid_request",
            "temperature",
        ),
        (
            "anthropic/claude-opus-4-7",
            {"thinking": {"effort": "low"}, "tool_choice": "required"},
            "invalid_request",
            "tool_choice",
        ),
        # The fallback models of a request are checked like its model.
        (
            "anthropic/claude-sonnet-4",
            {"thinking": {"budget_tokens": 2048}, "models": ["openai/gpt-4o-mini"]},
            "capability_not_supported",
            "thinking",
        ),
    ],
)
def test_invalid_reasoning_request_is_400_before_upstream(
    stack: RunningStack, model: str, request_fields: dict, code: str, param: str
) -> None:
    marker = unique("invalid")

    with pytest.raises(openai.BadRequestError) as caught:
        send(stack, model, marker, **request_fields)

    assert caught.value.code == code
    assert caught.value.body["param"] == param
    assert received_all(stack, marker) == []


@pytest.mark.parametrize(
    ("model", "request_fields", "param"),
    [
        ("anthropic/claude-sonnet-4", {"n": 2}, "n"),
        ("anthropic/claude-sonnet-4", {"seed": 7}, "seed"),
        ("anthropic/claude-sonnet-4", {"response_format": {"type": "json_object"}}, "response_format"),
        ("anthropic/claude-sonnet-4", {"temperature": 1.5}, "temperature"),
        ("google/gemini-2.5-flash", {"logprobs": True}, "logprobs"),
    ],
)
def test_parameter_the_provider_cannot_take_is_400(
    stack: RunningStack, model: str, request_fields: dict, param: str
) -> None:
    marker = unique("parameter")

    with pytest.raises(openai.BadRequestError) as caught:
        send(stack, model, marker, **request_fields)

    assert caught.value.code == "unsupported_parameter"
    assert caught.value.body["param"] == param
    assert f"`{param}`" in caught.value.message
    assert received_all(stack, marker) == []


def test_other_parameters_are_translated(stack: RunningStack) -> None:
    marker = unique("translated")
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    fields = {
        "stop": ["END"],
        "max_completion_tokens": 300,
        "top_p": 0.9,
        "user": "user-7",
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        "parallel_tool_calls": False,
    }

    # No Claude model in the catalog has `structured_output`, so only Gemini gets a schema.
    response_format = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}

    stack.client().chat.completions.create(
        model="anthropic/claude-sonnet-4", messages=[{"role": "user", "content": marker}], **fields
    )
    stack.client().chat.completions.create(
        model="google/gemini-2.5-flash",
        messages=[{"role": "user", "content": f"{marker} gemini"}],
        n=2,
        seed=11,
        response_format=response_format,
        **fields,
    )

    anthropic = received_all(stack, marker)[0]["body"]
    assert {
        key: anthropic.get(key) for key in ("stop_sequences", "max_tokens", "top_p", "metadata", "tool_choice")
    } == {
        "stop_sequences": ["END"],
        "max_tokens": 300,
        "top_p": 0.9,
        "metadata": {"user_id": "user-7"},
        "tool_choice": {"type": "tool", "name": "lookup", "disable_parallel_tool_use": True},
    }
    gemini = received(stack, f"{marker} gemini")["body"]
    assert gemini["generationConfig"] == {
        "topP": 0.9,
        "candidateCount": 2,
        "seed": 11,
        "maxOutputTokens": 300,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }
    assert gemini["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}}
