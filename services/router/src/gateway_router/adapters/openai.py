"""OpenAI's Chat Completions format, for OpenAI and every OpenAI-compatible server.

Replies are already in the gateway's format. The adapter forwards the
upstream's bytes as they are, and re-serializes a reply or chunk only when it
changes something. It renames a server's `reasoning` field to
`reasoning_content`, and splits a chunk that carries reasoning and content in
two, reasoning first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from gateway_contracts import GATEWAY_FIELDS, REASONING_FIELDS, TokenUsage
from gateway_router.adapters.base import CallContext, ParsedResponse, StreamPiece, UpstreamRequest
from gateway_router.adapters.common import MESSAGE_EXTRAS, REASONING_CONTENT, TOOL_CALL_EXTRA
from gateway_router.adapters.dialects import apply_reasoning, kept_message_fields
from gateway_router.errors import UpstreamFailed
from gateway_router.upstream_errors import classify_status

_NOT_FORWARDED = GATEWAY_FIELDS | REASONING_FIELDS


class OpenAIAdapter:
    inlines_image_urls = False

    def build_request(self, body: dict[str, Any], context: CallContext) -> UpstreamRequest:
        spec = context.route.spec
        payload = {key: value for key, value in body.items() if key not in _NOT_FORWARDED}
        payload["model"] = context.entry.upstream_name
        messages = payload.get("messages")
        if messages and _carries_extras(messages):
            payload["messages"] = [self.outgoing_message(message, context) for message in messages]
        apply_reasoning(payload, context.plan, spec.dialect, context.entry)
        reasoning = context.entry.reasoning
        if reasoning is not None and reasoning.style == "openai_effort" and "max_tokens" in payload:
            # OpenAI's reasoning models reject `max_tokens`; the limit, which
            # covers reasoning and reply alike, is `max_completion_tokens`.
            payload.setdefault("max_completion_tokens", payload.pop("max_tokens"))
        if context.stream and spec.stream_usage:
            # The router needs the usage chunk to count a stream's tokens,
            # whether or not the client asked for it.
            options = dict(payload.get("stream_options") or {})
            options["include_usage"] = True
            payload["stream_options"] = options

        headers = {"Content-Type": "application/json"}
        if context.route.api_key:
            headers["Authorization"] = f"Bearer {context.route.api_key}"
        return UpstreamRequest(
            url=f"{context.route.base_url}/chat/completions", headers=headers, body=orjson.dumps(payload)
        )

    def outgoing_message(self, message: dict[str, Any], context: CallContext) -> dict[str, Any]:
        """Return the message without the reasoning fields this provider does not take back."""
        if message.get("role") != "assistant":
            return message
        kept = kept_message_fields(context.route.spec.dialect, message)
        cleaned = {key: value for key, value in message.items() if key not in MESSAGE_EXTRAS or key in kept}
        if cleaned.get("tool_calls"):
            cleaned["tool_calls"] = [
                {key: value for key, value in call.items() if key != TOOL_CALL_EXTRA} for call in cleaned["tool_calls"]
            ]
        return cleaned

    def parse_response(self, data: bytes, context: CallContext) -> ParsedResponse:
        completion = orjson.loads(data)
        if "choices" not in completion and completion.get("error") is not None:
            # Some servers (OpenRouter, for one) report a failure with a success status.
            raise self.classify_error(502, data, {}, context)
        choices = completion.get("choices") or []
        changed = bool(completion.get("usage")) and self.normalize_usage(completion["usage"])
        for choice in choices:
            changed |= _rename_reasoning(choice.get("message"))
        self.check_finish(choices, context)
        message = choices[0].get("message") if choices else None
        return ParsedResponse(
            body=orjson.dumps(completion) if changed else data,
            usage=usage_from_openai(completion.get("usage")),
            message=message,
            upstream_model=str(completion.get("model") or context.entry.upstream_name),
            document=completion,
        )

    async def parse_stream(self, lines: AsyncIterator[bytes], context: CallContext) -> AsyncIterator[StreamPiece]:
        async for payload in lines:
            if payload == b"[DONE]":
                return
            chunk = orjson.loads(payload)
            if "error" in chunk and "choices" not in chunk:
                raise _stream_error(chunk["error"], context)
            choices = chunk.get("choices") or ()
            self.check_finish(choices, context)
            usage = chunk.get("usage")
            changed = bool(usage) and self.normalize_usage(usage)
            usage_read = usage_from_openai(usage) if usage else None

            for choice in choices:
                changed |= _rename_reasoning(choice.get("delta"))
            # NOTE: reasoning that a server sends after content has started is
            # passed on where it arrives; only a chunk carrying both is reordered.
            if len(choices) == 1 and _has_both(choices[0].get("delta")):
                yield _reasoning_part(chunk)
                chunk = _answer_part(chunk)
                changed = True
            yield StreamPiece(orjson.dumps(chunk) if changed else payload, chunk, usage_read)

    def normalize_usage(self, usage: dict[str, Any]) -> bool:
        """Hook for providers whose usage needs OpenAI's field names; returns whether it changed anything."""
        return False

    def check_finish(self, choices: Any, context: CallContext) -> None:
        """Hook for providers whose finish reasons include failures."""

    def classify_error(
        self, status: int, body: bytes, headers: Mapping[str, str], context: CallContext
    ) -> UpstreamFailed:
        detail = _error_detail(body)
        code = detail.get("code")
        if isinstance(code, int) and 400 <= code < 600:
            # OpenRouter's numeric code is the HTTP status it means, also in a
            # body sent with a success status.
            status = code
        return classify_status(
            provider=context.route.spec.name,
            credential_advice=context.route.spec.credential_advice,
            status=status,
            upstream_message=detail.get("message"),
            upstream_code=code if isinstance(code, str) else None,
            param=detail.get("param"),
            headers=headers,
        )


def usage_from_openai(usage: Mapping[str, Any] | None) -> TokenUsage:
    """Read OpenAI's usage object, and DeepSeek's cache fields where a server sends them."""
    if not usage:
        return TokenUsage()
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    cached = prompt_details.get("cached_tokens")
    if cached is None:
        cached = usage.get("prompt_cache_hit_tokens")
    return TokenUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=int(usage.get("total_tokens") or prompt + completion),
        cached_tokens=int(cached or 0),
        cache_write_tokens=int(prompt_details.get("cache_write_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        audio_input_tokens=int(prompt_details.get("audio_tokens") or 0),
        audio_output_tokens=int(completion_details.get("audio_tokens") or 0),
    )


def _carries_extras(messages: list[dict[str, Any]]) -> bool:
    for message in messages:
        if message.get("role") != "assistant":
            continue
        if not MESSAGE_EXTRAS.isdisjoint(message):
            return True
        if any(TOOL_CALL_EXTRA in call for call in message.get("tool_calls") or ()):
            return True
    return False


def _rename_reasoning(fields: dict[str, Any] | None) -> bool:
    """Move a server's `reasoning` text to `reasoning_content`; return whether anything moved."""
    if not fields or "reasoning" not in fields:
        return False
    text = fields.pop("reasoning")
    if text and not fields.get(REASONING_CONTENT):
        fields[REASONING_CONTENT] = text
    return True


def _has_both(delta: dict[str, Any] | None) -> bool:
    if not delta:
        return False
    return bool(delta.get(REASONING_CONTENT)) and bool(delta.get("content") or delta.get("tool_calls"))


def _reasoning_part(chunk: dict[str, Any]) -> StreamPiece:
    choice = chunk["choices"][0]
    delta = {key: value for key, value in choice["delta"].items() if key not in ("content", "tool_calls")}
    first = {**chunk, "choices": [{**choice, "delta": delta, "finish_reason": None}], "usage": None}
    return StreamPiece(orjson.dumps(first), first)


def _answer_part(chunk: dict[str, Any]) -> dict[str, Any]:
    choice = chunk["choices"][0]
    delta = {key: value for key, value in choice["delta"].items() if key not in (REASONING_CONTENT, "role")}
    return {**chunk, "choices": [{**choice, "delta": delta}]}


def _error_detail(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        return error
    if isinstance(error, str):
        return {"message": error}
    return {}


def _stream_error(error: Any, context: CallContext) -> UpstreamFailed:
    detail = error if isinstance(error, dict) else {"message": str(error)}
    return UpstreamFailed(
        f"Provider `{context.route.spec.name}` failed mid-stream: {detail.get('message') or 'no message'}",
        code="upstream_error",
        retryable=True,
    )
