"""Checks of a chat request against the catalog capabilities of its model.

Each rule looks at the validated request and returns what the request needs
from the model, or None. The edge runs every rule before it dispatches, so a
request that the model cannot serve is rejected with a 400 that names the
capability and suggests models that have it, and no provider is called.

A rule is a plain function; a new one is added to `RULES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gateway_contracts import CatalogEntry, ChatCompletionRequest, requested_thinking, split_thinking_suffix
from gateway_contracts.chat import AudioPart, CustomTool, FilePart, ImagePart
from gateway_contracts.records import Capability
from gateway_edge.catalog import ModelDirectory
from gateway_edge.errors import EdgeError

# Suggestions listed in the error message; the rest are counted.
_MAX_SUGGESTIONS = 5


@dataclass(frozen=True, slots=True)
class Requirement:
    """A capability that a request needs from its model, and the field that needs it."""

    capability: Capability
    # The field of the request that needs it, in OpenAI's notation.
    param: str
    # The feature of the request in words, for the error message: "image input".
    feature: str


Rule = Callable[[ChatCompletionRequest], Requirement | None]


def _parts(chat: ChatCompletionRequest) -> Iterator[tuple[str, object]]:
    for message_index, message in enumerate(chat.messages):
        if isinstance(message.content, list):
            for part_index, part in enumerate(message.content):
                yield f"messages[{message_index}].content[{part_index}]", part


def _first_part(chat: ChatCompletionRequest, kind: type) -> str | None:
    return next((param for param, part in _parts(chat) if isinstance(part, kind)), None)


def needs_vision(chat: ChatCompletionRequest) -> Requirement | None:
    param = _first_part(chat, ImagePart)
    return Requirement("vision", param, "image input") if param else None


def needs_pdf(chat: ChatCompletionRequest) -> Requirement | None:
    # OpenAI's `file` content part carries a document, which chat models read as PDF.
    param = _first_part(chat, FilePart)
    return Requirement("pdf", param, "PDF input") if param else None


def needs_audio_input(chat: ChatCompletionRequest) -> Requirement | None:
    param = _first_part(chat, AudioPart)
    return Requirement("audio_input", param, "audio input") if param else None


def needs_tools(chat: ChatCompletionRequest) -> Requirement | None:
    if chat.tools:
        return Requirement("tools", "tools", "tool calling")
    # The deprecated `functions` parameter needs the same capability.
    if (chat.model_extra or {}).get("functions"):
        return Requirement("tools", "functions", "function calling")
    return None


def needs_structured_output(chat: ChatCompletionRequest) -> Requirement | None:
    if chat.response_format and chat.response_format.get("type") == "json_schema":
        return Requirement("structured_output", "response_format", "structured output with a JSON schema")
    return None


def needs_audio_output(chat: ChatCompletionRequest) -> Requirement | None:
    modalities = (chat.model_extra or {}).get("modalities")
    if isinstance(modalities, list) and "audio" in modalities:
        return Requirement("audio_output", "modalities", "audio output")
    return None


def needs_reasoning(chat: ChatCompletionRequest) -> Requirement | None:
    # Any spelling of a reasoning request counts, unless it marks reasoning as optional.
    requested = requested_thinking(
        chat.thinking.model_dump(exclude_none=True) if chat.thinking else None,
        chat.reasoning.model_dump(exclude_none=True) if chat.reasoning else None,
        chat.reasoning_effort,
        split_thinking_suffix(chat.model)[1],
    )
    if requested is None or not requested.enabled or requested.optional:
        return None
    return Requirement("reasoning", requested.source, "reasoning")


def needs_streaming(chat: ChatCompletionRequest) -> Requirement | None:
    return Requirement("streaming", "stream", "streaming") if chat.stream else None


RULES: list[Rule] = [
    needs_vision,
    needs_pdf,
    needs_audio_input,
    needs_tools,
    needs_structured_output,
    needs_audio_output,
    needs_reasoning,
    needs_streaming,
]


def requirements(chat: ChatCompletionRequest, rules: list[Rule] | None = None) -> list[Requirement]:
    """Everything the request needs from its model, one requirement per rule that applies."""
    found = (rule(chat) for rule in (RULES if rules is None else rules))
    return [requirement for requirement in found if requirement is not None]


def check_capabilities(
    chat: ChatCompletionRequest, entry: CatalogEntry, directory: ModelDirectory, rules: list[Rule] | None = None
) -> None:
    """Raise a 400 naming the first capability that the request needs and `entry` lacks."""
    _check_openai_tool_forms(chat, entry)
    needed = requirements(chat, rules)
    missing = next((item for item in needed if item.capability not in entry.capabilities), None)
    if missing is None:
        return

    capabilities = list(dict.fromkeys(item.capability for item in needed))
    raise EdgeError(
        "capability_not_supported",
        f"The model `{entry.id}` does not support {missing.feature} (capability `{missing.capability}`). "
        + _suggestions(directory, entry, capabilities, missing.capability),
        param=missing.param,
    )


# OpenAI's own API is the only one that defines custom tools and allowed_tools choices.
_OPENAI_TOOL_PROVIDERS = frozenset({"openai"})


def _check_openai_tool_forms(chat: ChatCompletionRequest, entry: CatalogEntry) -> None:
    if entry.provider in _OPENAI_TOOL_PROVIDERS:
        return

    param = None
    for index, tool in enumerate(chat.tools or ()):
        if isinstance(tool, CustomTool):
            param = f"tools[{index}]"
            break
    choice = chat.tool_choice
    if param is None and isinstance(choice, dict) and choice.get("type") in ("custom", "allowed_tools"):
        param = "tool_choice"
    if param is None:
        return
    raise EdgeError(
        "capability_not_supported",
        f"`{param}` uses OpenAI's custom tools or `allowed_tools` choice, which provider `{entry.provider}` of "
        f"the model `{entry.id}` does not take. Use function tools with a named or mode `tool_choice`, "
        "or an `openai/` model.",
        param=param,
    )


def _suggestions(
    directory: ModelDirectory, entry: CatalogEntry, capabilities: list[Capability], missing: Capability
) -> str:
    candidates = [
        model_id for model_id in directory.with_capabilities(capabilities, entry.provider) if model_id != entry.id
    ]
    listing = f"`GET /v1/models?capability={missing}` lists the models that have it."
    if not candidates:
        needs = ", ".join(f"`{capability}`" for capability in capabilities)
        return f"No model in the catalog has every capability this request needs ({needs}). {listing}"

    named = ", ".join(f"`{model_id}`" for model_id in candidates[:_MAX_SUGGESTIONS])
    more = len(candidates) - _MAX_SUGGESTIONS
    tail = f" and {more} more" if more > 0 else ""
    return f"Models that can serve this request: {named}{tail}. {listing}"
