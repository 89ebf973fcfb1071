"""OpenAI's Chat Completions format, for OpenAI and every OpenAI-compatible server.

Replies are already in the gateway's format, so the adapter forwards the
upstream's bytes and parses them only to read usage and the reply text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from gateway_contracts import GATEWAY_FIELDS, TokenUsage
from gateway_router.adapters.base import CallContext, ParsedResponse, StreamPiece, UpstreamRequest
from gateway_router.errors import UpstreamFailed
from gateway_router.upstream_errors import classify_status


class OpenAIAdapter:
    def build_request(self, body: dict[str, Any], context: CallContext) -> UpstreamRequest:
        payload = {key: value for key, value in body.items() if key not in GATEWAY_FIELDS}
        payload["model"] = context.entry.upstream_name
        if context.stream and context.route.spec.stream_usage:
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

    def parse_response(self, data: bytes, context: CallContext) -> ParsedResponse:
        completion = orjson.loads(data)
        if "choices" not in completion and "error" in completion:
            # Some servers report a failure with a success status.
            raise self.classify_error(502, data, {}, context)
        choices = completion.get("choices") or []
        message = choices[0].get("message") if choices else None
        return ParsedResponse(
            body=data,
            usage=usage_from_openai(completion.get("usage")),
            message=message,
            upstream_model=str(completion.get("model") or context.entry.upstream_name),
        )

    async def parse_stream(self, lines: AsyncIterator[bytes], context: CallContext) -> AsyncIterator[StreamPiece]:
        async for payload in lines:
            if payload == b"[DONE]":
                return
            chunk = orjson.loads(payload)
            if "error" in chunk and "choices" not in chunk:
                raise _stream_error(chunk["error"], context)
            usage = chunk.get("usage")
            yield StreamPiece(payload, chunk, usage_from_openai(usage) if usage else None)

    def classify_error(
        self, status: int, body: bytes, headers: Mapping[str, str], context: CallContext
    ) -> UpstreamFailed:
        detail = _error_detail(body)
        return classify_status(
            provider=context.route.spec.name,
            credential_env=context.route.spec.credential_env,
            status=status,
            upstream_message=detail.get("message"),
            upstream_code=detail.get("code"),
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
    )
