"""Pieces that the native adapters share: OpenAI's chunk and usage shapes, content parts, parameter checks."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway_contracts import TokenUsage
from gateway_router.adapters.base import StreamPiece
from gateway_router.errors import RequestRejected, UpstreamFailed

# Extra fields of an assistant message that carry what a provider needs back
# in later turns. Each adapter keeps the ones its provider takes and removes
# the others before the message goes upstream.
REASONING_CONTENT = "reasoning_content"
THINKING_BLOCKS = "thinking_blocks"
REASONING_DETAILS = "reasoning_details"
IMAGES = "images"
MESSAGE_EXTRAS: frozenset[str] = frozenset({REASONING_CONTENT, THINKING_BLOCKS, REASONING_DETAILS, "reasoning", IMAGES})
# The tool call field that carries Gemini's thought signature, as Gemini's
# own OpenAI-compatible endpoint returns it: `extra_content.google.thought_signature`.
TOOL_CALL_EXTRA = "extra_content"

_MEDIA_TYPES_BY_EXTENSION = {
    "pdf": "application/pdf",
    "txt": "text/plain",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
}


def openai_usage(usage: TokenUsage) -> dict[str, Any]:
    """Write `usage` in OpenAI's field names, with every detail the provider reported."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
            "audio_tokens": usage.audio_input_tokens,
        },
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": usage.audio_output_tokens,
        },
    }


class ChunkWriter:
    """Builds `chat.completion.chunk` objects that share one id, creation time and model."""

    def __init__(self, completion_id: str, model: str) -> None:
        self.id = completion_id
        self.model = model
        self.created = int(time.time())

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None, index: int = 0) -> StreamPiece:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._piece([choice], None)

    def usage_chunk(self, usage: TokenUsage) -> StreamPiece:
        piece = self._piece([], openai_usage(usage))
        piece.usage = usage
        return piece

    def _piece(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None) -> StreamPiece:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": usage,
        }
        return StreamPiece(orjson.dumps(chunk), chunk)


def completion(completion_id: str, model: str, choices: list[dict[str, Any]], usage: TokenUsage) -> dict[str, Any]:
    """Build a `chat.completion` object."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": openai_usage(usage),
    }


def new_tool_call_id() -> str:
    """Make up an OpenAI-style tool call id, for providers that send none."""
    return "call_" + secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class Media:
    """Bytes of an image, document or audio part, still base64-encoded."""

    media_type: str
    data: str


def parse_data_url(url: str) -> Media | None:
    """Split `data:<type>;base64,<data>` into its parts, or return None for any other URL."""
    if not url.startswith("data:"):
        return None
    header, separator, data = url[5:].partition(",")
    if not separator or not header.endswith(";base64"):
        return None
    return Media(header[: -len(";base64")].lower() or "application/octet-stream", data)


def image_media(part: Mapping[str, Any], param: str) -> Media | None:
    """Return the inline bytes of an `image_url` part, or None when it is an https URL."""
    url = str(part["image_url"]["url"])
    media = parse_data_url(url)
    if media is not None:
        return media
    if url.startswith("https://"):
        return None
    raise RequestRejected(f"Invalid `{param}`: an image must be an https URL or a base64 `data:` URL.", param=param)


def file_media(part: Mapping[str, Any], param: str, provider: str) -> Media:
    """Return the bytes of a `file` part: `file_data` as a data URL or plain base64, typed by `filename`."""
    file = part["file"]
    file_data = file.get("file_data")
    if file_data is None:
        raise RequestRejected(
            f"Provider `{provider}` cannot read OpenAI file ids; send the file inline as `file_data`.",
            code="unsupported_parameter",
            param=f"{param}.file.file_id",
        )
    media = parse_data_url(file_data)
    if media is not None:
        return media
    extension = str(file.get("filename") or "").rpartition(".")[2].lower()
    media_type = _MEDIA_TYPES_BY_EXTENSION.get(extension, "application/pdf")
    return Media(media_type, file_data)


def audio_media(part: Mapping[str, Any]) -> Media:
    audio = part["input_audio"]
    return Media(f"audio/{str(audio['format']).lower()}", str(audio["data"]))


def text_of(content: Any, param: str, provider: str) -> str:
    """Return the text of a message whose provider slot takes only text (system prompts, for one)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for index, part in enumerate(content):
        if part.get("type") != "text":
            raise RequestRejected(
                f"Provider `{provider}` takes only text in `{param}`.",
                code="unsupported_parameter",
                param=f"{param}[{index}]",
            )
        texts.append(part["text"])
    return "\n".join(texts)


def tool_arguments(arguments: str, param: str) -> dict[str, Any]:
    """Parse a tool call's `arguments` string, which providers other than OpenAI take as an object."""
    if not arguments:
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise RequestRejected(f"Invalid `{param}`: the arguments must be a JSON object.", param=param)
    return parsed


def reject_unsupported(body: Mapping[str, Any], names: Iterable[str], provider: str) -> None:
    """Reject with 400 the first parameter in `names` that the request sets and the provider cannot take."""
    for name in names:
        value = body.get(name)
        if value is None or value is False:
            continue
        if name == "n" and value == 1:
            continue
        raise RequestRejected(
            f"Provider `{provider}` does not support `{name}`; remove it or pick another model.",
            code="unsupported_parameter",
            param=name,
        )


def stream_ended_early(provider: str) -> UpstreamFailed:
    return UpstreamFailed(
        f"Provider `{provider}` closed the stream before the reply was complete.",
        code="upstream_error",
        retryable=True,
    )


def invalid_reply(provider: str) -> UpstreamFailed:
    return UpstreamFailed(f"Provider `{provider}` sent a reply that is not valid JSON.", code="upstream_error")
