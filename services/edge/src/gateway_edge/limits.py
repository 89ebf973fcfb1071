"""Checks of a request against its model's context window and output limit, before any upstream call."""

from __future__ import annotations

import asyncio
import math

from gateway_contracts import CatalogEntry, ChatCompletionRequest
from gateway_contracts.chat import TextPart
from gateway_contracts.tokens import count_text, encoding_name
from gateway_edge.errors import EdgeError

# The longest token in OpenAI's o200k_base and cl100k_base vocabularies is a
# run of 128 spaces (tiktoken 0.14 rank files), so no prompt text takes fewer
# tokens than its UTF-8 bytes divided by this.
# NOTE: other providers' tokenizers are assumed to have no longer tokens.
MAX_BYTES_PER_TOKEN = 128
# Text above this many bytes per token of the context window is counted with
# the model's tokenizer, where the gateway has it: English text runs about 4
# bytes per token, so a prompt this long most likely exceeds the window.
_BYTES_PER_TOKEN_TO_COUNT = 4


def check_output_limit(entry: CatalogEntry, chat: ChatCompletionRequest) -> None:
    """Reject a `max_tokens` or `max_completion_tokens` above the model's maximum output, as OpenAI does."""
    limit = entry.max_output_tokens
    if limit is None:
        return
    for param in ("max_completion_tokens", "max_tokens"):
        requested = getattr(chat, param)
        if requested is not None and requested > limit:
            raise EdgeError(
                "invalid_request",
                f"`{param}` is too large: {requested}. `{entry.id}` supports at most {limit} output tokens; "
                f"set `{param}` to {limit} or less.",
                param=param,
            )


async def check_context_window(entry: CatalogEntry, chat: ChatCompletionRequest) -> None:
    """Reject a prompt whose text alone takes more tokens than the model's context window.

    Counts only message text, so the count is a lower bound on the prompt and
    never rejects a prompt that fits. Most requests return after summing
    string lengths; a prompt long enough to exceed the window is measured in
    UTF-8 bytes and, for OpenAI models, counted with the tokenizer.
    """
    window = entry.context_window
    if window is None:
        return
    texts = _message_texts(chat)
    characters = sum(len(text) for text in texts)
    # A character takes at most 4 UTF-8 bytes, so below both limits neither check can reject.
    if 4 * characters <= window * MAX_BYTES_PER_TOKEN and characters <= window * _BYTES_PER_TOKEN_TO_COUNT:
        return
    size = sum(len(text.encode()) for text in texts)
    tokens = math.ceil(size / MAX_BYTES_PER_TOKEN)
    measure = f"at least {tokens} tokens ({size} bytes of text, at most {MAX_BYTES_PER_TOKEN} bytes per token)"
    encoding = encoding_name(entry.provider, entry.upstream_name)
    if tokens <= window and encoding is not None and size > window * _BYTES_PER_TOKEN_TO_COUNT:
        # Off the event loop: 2.6 MB of text took 0.09 s on one core of a shared 2-core machine.
        count = await asyncio.to_thread(count_text, "\n".join(texts), encoding)
        if count.exact:
            tokens = count.tokens
            measure = f"{tokens} tokens of text, counted with `{encoding}`"
    if tokens <= window:
        return
    raise EdgeError(
        "context_length_exceeded",
        f"This model's maximum context length is {window} tokens, but `messages` take {measure}. "
        "Shorten the messages or pick a model with a larger context window.",
        param="messages",
    )


def _message_texts(chat: ChatCompletionRequest) -> list[str]:
    texts: list[str] = []
    for message in chat.messages:
        content = message.content
        if isinstance(content, str):
            texts.append(content)
        elif content is not None:
            texts.extend(part.text for part in content if isinstance(part, TextPart))
    return texts
