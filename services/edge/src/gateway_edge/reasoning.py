"""Checks of the model names and the reasoning request, made before anything is dispatched.

Whether a model can reason at all is a capability rule (`capabilities.py`).
This module rejects the rest before dispatch: reasoning combined with
parameters that the model's provider rejects, such as a budget not below
`max_tokens` or a temperature other than 1 with Anthropic's thinking.
"""

from __future__ import annotations

from gateway_contracts import (
    CatalogEntry,
    ChatCompletionRequest,
    ReasoningNotSupported,
    RequestProblem,
    SamplingParams,
    ThinkingRequest,
    plan_reasoning,
    requested_thinking,
    split_thinking_suffix,
)
from gateway_edge.catalog import ModelDirectory
from gateway_edge.errors import EdgeError


def resolve_model(directory: ModelDirectory, name: str, param: str = "model") -> tuple[CatalogEntry, bool]:
    """Find the entry that `name` names, and whether a `:thinking` suffix asked for reasoning.

    A name that the catalog contains with its suffix is a model of its own.
    Otherwise the suffix is stripped and turns reasoning on.
    """
    entry = directory.find(name)
    if entry is not None:
        return entry, False
    base, suffix = split_thinking_suffix(name)
    entry = directory.find(base) if suffix else None
    if entry is None:
        raise EdgeError(
            "model_not_found",
            f"The model `{name}` does not exist. `GET /v1/models` lists the models you can use.",
            param=param,
        )
    return entry, True


def requested_by(chat: ChatCompletionRequest, suffix: bool) -> ThinkingRequest | None:
    """Read the request's reasoning request, whichever spelling it used."""
    return requested_thinking(
        chat.thinking.model_dump(exclude_none=True) if chat.thinking else None,
        chat.reasoning.model_dump(exclude_none=True) if chat.reasoning else None,
        chat.reasoning_effort,
        suffix,
    )


def check_reasoning(chat: ChatCompletionRequest, suffix: bool, entries: list[CatalogEntry]) -> None:
    """Reject a reasoning request that one of `entries` cannot serve as asked."""
    requested = requested_by(chat, suffix)
    if requested is None:
        return
    sampling = SamplingParams(
        max_tokens=chat.max_completion_tokens or chat.max_tokens,
        temperature=chat.temperature,
        top_p=chat.top_p,
        tool_choice=chat.tool_choice,
    )
    for entry in entries:
        try:
            plan_reasoning(requested, entry, sampling)
        except ReasoningNotSupported as problem:
            # The capability rule has already rejected this unless the catalog
            # changed in between; the message then points at the full list.
            message = f"{problem.message} `GET /v1/models?capability=reasoning` lists the models that can."
            raise EdgeError("capability_not_supported", message, param=problem.param) from None
        except RequestProblem as problem:
            raise EdgeError("invalid_request", problem.message, param=problem.param) from None
