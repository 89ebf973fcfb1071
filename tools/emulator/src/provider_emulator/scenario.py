"""What the emulator answers, decided once per request and then written in each provider's wire format."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

import orjson

from provider_emulator.directives import Directives
from provider_emulator.text import join_words, prompt_tokens, reply_words

# A 1x1 PNG, the image that image models "generate".
IMAGE_PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
# Tokens an emulated audio clip counts for.
AUDIO_TOKENS_PER_PART = 25
# Tokens a tool call counts for.
TOOL_CALL_TOKENS = 5
DEFAULT_TOOL_ARGUMENTS: dict[str, Any] = {"city": "Paris", "unit": "celsius"}

_SIGNING_KEY = b"provider-emulator-signatures"


def sign(text: str) -> str:
    """An opaque signature over `text`, which the emulator checks when a client sends it back."""
    digest = hmac.new(_SIGNING_KEY, text.encode(), hashlib.sha256).digest()
    return "EmuSig" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class Conversation:
    """The parts of a request that decide the answer, read from any wire format."""

    model: str
    texts: list[str]
    last_user_text: str
    # The text of the tool result when the conversation ends with one.
    tool_result: str | None = None
    audio_parts: int = 0


@dataclass(frozen=True, slots=True)
class ToolUse:
    id: str
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return orjson.dumps(self.arguments).decode()


@dataclass(slots=True)
class Scenario:
    answer: list[str]
    reasoning: list[str]
    # Reasoning happened, whether or not its text is returned.
    reasoning_tokens: int
    tool: ToolUse | None
    image: bool
    finish: str
    prompt_tokens: int
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    audio_tokens: int = 0
    audio_output_tokens: int = 0
    completion_tokens: int = field(init=False)

    def __post_init__(self) -> None:
        answer_tokens = len(self.answer) + (TOOL_CALL_TOKENS if self.tool else 0)
        self.completion_tokens = answer_tokens + self.reasoning_tokens + self.audio_output_tokens

    @property
    def answer_text(self) -> str:
        return "".join(self.answer)

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning)


def build_scenario(
    conversation: Conversation,
    directives: Directives,
    *,
    thinks: bool,
    shows_thoughts: bool,
    max_tokens: int | None,
    call_id: str,
) -> Scenario:
    """Decide the answer: reasoning if the request turned it on, then a tool call or text."""
    visible = _visible_words(conversation.last_user_text)
    reasoning_words = _reasoning_words(directives, visible) if thinks else []

    tool = None
    if directives.tool and conversation.tool_result is None:
        arguments = _tool_arguments(directives)
        tool = ToolUse(call_id, directives.tool, arguments)
        words: list[str] = []
    elif conversation.tool_result is not None:
        words = ["Based", "on", "the", "tool:", *conversation.tool_result.split()[:20]]
    else:
        words = reply_words(directives, conversation.model, conversation.last_user_text)

    finish = "tool_calls" if tool else "stop"
    if max_tokens is not None and len(words) > max_tokens:
        words = words[:max_tokens]
        finish = "length"

    # Tokens that the directives name come on top of the counted ones.
    audio = conversation.audio_parts * AUDIO_TOKENS_PER_PART + directives.audio_in
    prompt = prompt_tokens(conversation.texts) + audio + directives.cached + directives.cache_write
    return Scenario(
        answer=join_words(words),
        reasoning=join_words(reasoning_words) if shows_thoughts else [],
        reasoning_tokens=len(reasoning_words) + directives.reasoning,
        tool=tool,
        image=bool(directives.image),
        finish=finish,
        prompt_tokens=prompt,
        cached_tokens=directives.cached,
        cache_write_tokens=directives.cache_write,
        audio_tokens=audio,
        audio_output_tokens=directives.audio_out,
    )


def _visible_words(text: str) -> list[str]:
    return " ".join(line for line in text.splitlines() if not line.startswith("#emulate")).split()


def _reasoning_words(directives: Directives, visible: list[str]) -> list[str]:
    if directives.thinking is not None:
        return directives.thinking.split()
    if directives.thinking_words is not None:
        return [f"thought{index}" for index in range(directives.thinking_words)]
    return ["Let", "me", "think", "about", *visible[:8]]


def _tool_arguments(directives: Directives) -> dict[str, Any]:
    if directives.tool_args:
        try:
            parsed = orjson.loads(directives.tool_args)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return dict(DEFAULT_TOOL_ARGUMENTS)
