"""The provider families of the conformance tests: their models and the upstream requests they expect."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.conftest import RunningStack

SYSTEM = "Be brief."
BUDGET = 10000


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def words(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class Family:
    """One provider family, seen from the client and from the emulator.

    `upstream_on` and `upstream_off` build the whole body that the emulator
    must receive for the standard question with reasoning turned on (budget
    10000) or off.
    """

    name: str
    model: str
    upstream_model: str
    path: str
    stream_path: str
    # Whether the provider returns the reasoning text, or only counts it.
    returns_reasoning: bool
    upstream_on: Callable[[str, bool], dict[str, Any]]
    upstream_off: Callable[[str, bool], dict[str, Any]]
    # Whether the model still returns reasoning when asked not to reason,
    # because it cannot stop and its provider has no switch to hide the text.
    reasons_when_off: bool = False


def openai_messages(question: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


def _openai_style(model: str, fields_on: dict[str, Any], fields_off: dict[str, Any]):
    def build(fields: dict[str, Any]) -> Callable[[str, bool], dict[str, Any]]:
        def body(question: str, stream: bool) -> dict[str, Any]:
            expected = {"model": model, "messages": openai_messages(question), **fields}
            if stream:
                expected["stream"] = True
                expected["stream_options"] = {"include_usage": True}
            return expected

        return body

    return build(fields_on), build(fields_off)


def _anthropic(budget_on: bool) -> Callable[[str, bool], dict[str, Any]]:
    def body(question: str, stream: bool) -> dict[str, Any]:
        expected: dict[str, Any] = {
            "model": "claude-sonnet-4-20250514",
            "messages": [{"role": "user", "content": [{"type": "text", "text": question}]}],
            # The budget plus the 8192 tokens the gateway leaves for the answer.
            "max_tokens": BUDGET + 8192 if budget_on else 4096,
            "system": [{"type": "text", "text": SYSTEM}],
        }
        if stream:
            expected["stream"] = True
        expected["thinking"] = {"type": "enabled", "budget_tokens": BUDGET} if budget_on else {"type": "disabled"}
        return expected

    return body


def _gemini(thinking_config: dict[str, Any]) -> Callable[[str, bool], dict[str, Any]]:
    def body(question: str, stream: bool) -> dict[str, Any]:
        return {
            "contents": [{"role": "user", "parts": [{"text": question}]}],
            "systemInstruction": {"parts": [{"text": SYSTEM}]},
            "generationConfig": {"thinkingConfig": thinking_config},
        }

    return body


_OPENAI_ON, _OPENAI_OFF = _openai_style(
    "o4-mini",
    # A budget of 10000 is `medium` in the effort table.
    {"reasoning_effort": "medium"},
    # o4-mini cannot stop reasoning, so "off" asks for its least effort.
    {"reasoning_effort": "low"},
)
_DEEPSEEK_ON, _DEEPSEEK_OFF = _openai_style(
    "deepseek-reasoner",
    # `medium` is not a DeepSeek effort; the tie between `low` and `high` goes up.
    {"thinking": {"type": "enabled"}, "reasoning_effort": "high"},
    {"thinking": {"type": "disabled"}},
)
_VLLM_ON, _VLLM_OFF = _openai_style(
    "Qwen/Qwen3-8B",
    {"chat_template_kwargs": {"enable_thinking": True}},
    {"chat_template_kwargs": {"enable_thinking": False}},
)
_OPENROUTER_ON, _OPENROUTER_OFF = _openai_style(
    "anthropic/claude-sonnet-4", {"reasoning": {"max_tokens": BUDGET}}, {"reasoning": {"enabled": False}}
)
_QWEN_ON, _QWEN_OFF = _openai_style(
    "qwen-plus", {"enable_thinking": True, "thinking_budget": BUDGET}, {"enable_thinking": False}
)
_OLLAMA_ON, _OLLAMA_OFF = _openai_style(
    "gpt-oss:20b",
    {"reasoning_effort": "medium"},
    # gpt-oss cannot stop reasoning, so "off" asks for its least effort.
    {"reasoning_effort": "low"},
)

FAMILIES = [
    Family(
        "openai",
        "openai/o4-mini",
        "o4-mini",
        "/openai/v1/chat/completions",
        "/openai/v1/chat/completions",
        False,
        _OPENAI_ON,
        _OPENAI_OFF,
    ),
    Family(
        "anthropic",
        "anthropic/claude-sonnet-4",
        "claude-sonnet-4-20250514",
        "/anthropic/v1/messages",
        "/anthropic/v1/messages",
        True,
        _anthropic(True),
        _anthropic(False),
    ),
    Family(
        "gemini",
        "google/gemini-2.5-flash",
        "gemini-2.5-flash",
        "/google/v1beta/models/gemini-2.5-flash:generateContent",
        "/google/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        True,
        _gemini({"thinkingBudget": BUDGET, "includeThoughts": True}),
        _gemini({"thinkingBudget": 0}),
    ),
    Family(
        "deepseek",
        "deepseek/deepseek-r1",
        "deepseek-reasoner",
        "/deepseek/v1/chat/completions",
        "/deepseek/v1/chat/completions",
        True,
        _DEEPSEEK_ON,
        _DEEPSEEK_OFF,
    ),
    Family(
        "vllm",
        "vllm/qwen3-8b",
        "Qwen/Qwen3-8B",
        "/vllm/v1/chat/completions",
        "/vllm/v1/chat/completions",
        True,
        _VLLM_ON,
        _VLLM_OFF,
    ),
    Family(
        "openrouter",
        "openrouter/anthropic/claude-sonnet-4",
        "anthropic/claude-sonnet-4",
        "/openrouter/v1/chat/completions",
        "/openrouter/v1/chat/completions",
        True,
        _OPENROUTER_ON,
        _OPENROUTER_OFF,
    ),
    Family(
        "qwen",
        "qwen/qwen-plus",
        "qwen-plus",
        "/qwen/v1/chat/completions",
        "/qwen/v1/chat/completions",
        True,
        _QWEN_ON,
        _QWEN_OFF,
    ),
    Family(
        "ollama",
        "ollama/gpt-oss:20b",
        "gpt-oss:20b",
        "/ollama/v1/chat/completions",
        "/ollama/v1/chat/completions",
        True,
        _OLLAMA_ON,
        _OLLAMA_OFF,
        reasons_when_off=True,
    ),
]
FAMILY_IDS = [family.name for family in FAMILIES]
NATIVE = [family for family in FAMILIES if family.name in ("openai", "anthropic", "gemini", "deepseek")]


def received(stack: RunningStack, marker: str) -> dict[str, Any]:
    """The one request the emulator received whose body mentions `marker`."""
    matches = [record for record in stack.emulator_requests() if marker in str(record["body"])]
    assert len(matches) == 1, f"expected one upstream request with {marker}, got {len(matches)}"
    return matches[0]


def received_all(stack: RunningStack, marker: str) -> list[dict[str, Any]]:
    return [record for record in stack.emulator_requests() if marker in str(record["body"])]


def extra(obj: Any, name: str) -> Any:
    """A field the `openai` package does not declare, such as `reasoning_content`."""
    return (obj.model_extra or {}).get(name)
