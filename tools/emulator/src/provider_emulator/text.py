"""Deterministic reply text and token counts shared by every wire format."""

from __future__ import annotations

from typing import Any

from provider_emulator.directives import Directives

# Every message costs a few tokens of framing, as with real tokenizers.
_TOKENS_PER_MESSAGE = 3


def message_text(content: Any) -> str:
    """The text of an OpenAI message content: a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def count_tokens(text: str) -> int:
    """One token per whitespace-separated word: an emulator needs stable counts, not real ones."""
    return len(text.split())


def prompt_tokens(texts: list[str]) -> int:
    return sum(count_tokens(text) + _TOKENS_PER_MESSAGE for text in texts)


def reply_words(directives: Directives, model: str, last_user_text: str) -> list[str]:
    """The words of the reply, before any `max_tokens` cut."""
    if directives.reply is not None:
        return directives.reply.split()
    if directives.words is not None:
        if directives.word_bytes:
            return [f"{index % 10}" * directives.word_bytes for index in range(directives.words)]
        return [f"word{index}" for index in range(directives.words)]
    visible = " ".join(line for line in last_user_text.splitlines() if not line.startswith("#emulate"))
    return ["Emulated", "reply", "from", f"{model}:", *visible.split()[:40]]


def join_words(words: list[str]) -> list[str]:
    """Split the reply into stream pieces that concatenate back to the text."""
    return [word if index == 0 else f" {word}" for index, word in enumerate(words)]
