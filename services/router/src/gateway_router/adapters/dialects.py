"""Reasoning dialects of the OpenAI-compatible servers: the switch each takes, and the fields it takes back.

The servers share OpenAI's wire format but not its reasoning fields:

| dialect | reasoning on / off | amount | takes back on assistant messages |
|---|---|---|---|
| openai | `reasoning_effort` (`none` = off) | effort | nothing |
| deepseek | `thinking: {type: enabled / disabled}` | `reasoning_effort` | `reasoning_content`, on tool-call turns |
| openrouter | `reasoning: {enabled: false}` | `reasoning.max_tokens` or `reasoning.effort` | `reasoning_details` |
| xai | chosen by model id | `reasoning_effort`, where the model lists efforts | `reasoning_content` |
| qwen | `enable_thinking` | `thinking_budget` | nothing |
| ollama | `reasoning_effort` (`none` = off) | effort | nothing |
| vllm | `chat_template_kwargs.enable_thinking` | none | `reasoning_content` |

Replies name the reasoning text `reasoning_content` (DeepSeek, xAI, Qwen) or
`reasoning` (OpenRouter, Ollama, vLLM since late 2025); the adapter renames
the latter.
"""

from __future__ import annotations

from typing import Any

from gateway_contracts import CatalogEntry, ReasoningPlan
from gateway_router.adapters.common import REASONING_CONTENT, REASONING_DETAILS
from gateway_router.providers import Dialect


def apply_reasoning(payload: dict[str, Any], plan: ReasoningPlan | None, dialect: Dialect, entry: CatalogEntry) -> None:
    """Write the reasoning fields of `dialect` for `plan` into `payload`."""
    if plan is None:
        return
    writer = _WRITERS[dialect]
    writer(payload, plan, entry)


def kept_message_fields(dialect: Dialect, message: dict[str, Any]) -> frozenset[str]:
    """Return the reasoning fields of an assistant message that `dialect` takes back."""
    if dialect == "deepseek":
        # DeepSeek requires the reasoning of tool-call turns in every later
        # request and ignores it elsewhere.
        return frozenset({REASONING_CONTENT}) if message.get("tool_calls") else frozenset()
    if dialect == "openrouter":
        return frozenset({REASONING_DETAILS})
    if dialect in ("xai", "vllm"):
        return frozenset({REASONING_CONTENT})
    return frozenset()


def _effort(payload: dict[str, Any], plan: ReasoningPlan, entry: CatalogEntry) -> None:
    if not plan.enabled:
        payload["reasoning_effort"] = "none"
    elif plan.effort is not None:
        payload["reasoning_effort"] = plan.effort


def _deepseek(payload: dict[str, Any], plan: ReasoningPlan, entry: CatalogEntry) -> None:
    payload["thinking"] = {"type": "enabled" if plan.enabled else "disabled"}
    if plan.enabled and plan.effort is not None:
        payload["reasoning_effort"] = plan.effort


def _openrouter(payload: dict[str, Any], plan: ReasoningPlan, entry: CatalogEntry) -> None:
    if not plan.enabled:
        payload["reasoning"] = {"enabled": False}
    elif plan.by_budget and plan.budget_tokens is not None:
        payload["reasoning"] = {"max_tokens": plan.budget_tokens}
    elif plan.effort is not None:
        payload["reasoning"] = {"effort": plan.effort}
    else:
        payload["reasoning"] = {"enabled": True}


def _xai(payload: dict[str, Any], plan: ReasoningPlan, entry: CatalogEntry) -> None:
    # Only some Grok models take `reasoning_effort`; the others reject it.
    accepted = entry.reasoning.efforts if entry.reasoning else None
    if plan.enabled and plan.effort is not None and accepted:
        payload["reasoning_effort"] = plan.effort


def _qwen(payload: dict[str, Any], plan: ReasoningPlan, entry: CatalogEntry) -> None:
    # NOTE: open-weight Qwen3 models on Model Studio reject non-streaming calls
    # with thinking on; their 400 reaches the client as the provider sent it.
    payload["enable_thinking"] = plan.enabled
    if plan.enabled and plan.budget_tokens is not None:
        payload["thinking_budget"] = plan.budget_tokens


def _ollama(payload: dict[str, Any], plan: ReasoningPlan, entry: CatalogEntry) -> None:
    payload["reasoning_effort"] = (plan.effort or "medium") if plan.enabled else "none"


def _vllm(payload: dict[str, Any], plan: ReasoningPlan, entry: CatalogEntry) -> None:
    # Qwen3's chat template reads `enable_thinking`; other templates ignore it.
    given = payload.get("chat_template_kwargs")
    kwargs = dict(given) if isinstance(given, dict) else {}
    kwargs["enable_thinking"] = plan.enabled
    payload["chat_template_kwargs"] = kwargs


_WRITERS = {
    "openai": _effort,
    "deepseek": _deepseek,
    "openrouter": _openrouter,
    "xai": _xai,
    "qwen": _qwen,
    "ollama": _ollama,
    "vllm": _vllm,
}
