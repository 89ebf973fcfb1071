"""OpenAI's Chat Completions wire format: `POST /openai/v1/chat/completions`."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import orjson
from aiohttp import web

from provider_emulator.directives import Directives, parse_directives
from provider_emulator.recorder import Recorder
from provider_emulator.text import join_words, message_text, prompt_tokens, reply_words

INVALID_KEY = "sk-invalid"

_ERRORS: dict[int, dict[str, Any]] = {
    400: {
        "message": "This model's maximum context length is 8192 tokens. However, your messages resulted in "
        "9000 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    },
    401: {
        "message": "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    },
    429: {
        "message": "Rate limit reached for requests. Please try again in 1s.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    },
    500: {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": None,
        "code": None,
    },
    503: {
        "message": "The engine is currently overloaded, please try again later.",
        "type": "server_error",
        "param": None,
        "code": None,
    },
}


def error_response(status: int) -> web.Response:
    detail = _ERRORS.get(status, _ERRORS[500])
    headers = {"retry-after": "1"} if status == 429 else None
    return web.Response(
        status=status, body=orjson.dumps({"error": detail}), content_type="application/json", headers=headers
    )


class ChatCompletions:
    """The handler of one emulated OpenAI-compatible provider."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return error_response(400)
        seq = self._recorder.record_request(request.path, dict(request.headers), payload)

        if request.headers.get("Authorization") in (None, f"Bearer {INVALID_KEY}"):
            return error_response(401)
        texts = [message_text(message.get("content")) for message in payload.get("messages", [])]
        directives = parse_directives(texts)
        if directives.first_delay_ms:
            await asyncio.sleep(directives.first_delay_ms / 1000)
        if directives.error is not None:
            return error_response(directives.error)

        reply = _Reply(payload, texts, directives)
        if payload.get("stream"):
            return await self._stream(request, reply, seq)
        return web.Response(body=orjson.dumps(reply.completion()), content_type="application/json")

    async def _stream(self, request: web.Request, reply: _Reply, seq: int) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        sent = 0
        try:
            for event in reply.chunks():
                if event is _MID_STREAM_ERROR:
                    await response.write(b"data: " + orjson.dumps({"error": _ERRORS[500]}) + b"\n\n")
                    return response
                await response.write(b"data: " + orjson.dumps(event) + b"\n\n")
                sent += 1
                if reply.directives.delay_ms:
                    await _sleep_unless_gone(request, reply.directives.delay_ms / 1000)
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (ConnectionError, _ClientGone):
            self._recorder.record_disconnect(seq, sent)
        return response


class _ClientGone(Exception):
    pass


_MID_STREAM_ERROR: dict[str, Any] = {}


async def _sleep_unless_gone(request: web.Request, seconds: float) -> None:
    """Sleep, checking the connection often so that a client's disconnect is seen within 50 ms."""
    deadline = time.monotonic() + seconds
    while True:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise _ClientGone
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        await asyncio.sleep(min(remaining, 0.05))


class _Reply:
    """The emulated answer to one request, in both response shapes."""

    def __init__(self, payload: dict[str, Any], texts: list[str], directives: Directives) -> None:
        self.directives = directives
        self.model = str(payload.get("model", ""))
        self.choices = int(payload.get("n") or 1)
        self.include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())

        user_texts = [
            text
            for message, text in zip(payload.get("messages", []), texts, strict=True)
            if message.get("role") == "user"
        ]
        words = reply_words(directives, self.model, user_texts[-1] if user_texts else "")
        limit = payload.get("max_completion_tokens") or payload.get("max_tokens")
        self.finish_reason = "stop"
        if isinstance(limit, int) and len(words) > limit:
            words = words[:limit]
            self.finish_reason = "length"
        self.pieces = join_words(words)
        self.prompt_tokens = prompt_tokens(texts) + directives.cached + directives.cache_write + directives.audio_in
        self.completion_tokens = len(words) * self.choices + directives.reasoning + directives.audio_out

    def usage(self) -> dict[str, Any]:
        directives = self.directives
        prompt_details = {"cached_tokens": directives.cached, "audio_tokens": directives.audio_in}
        if directives.cache_write:
            prompt_details["cache_write_tokens"] = directives.cache_write
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": prompt_details,
            "completion_tokens_details": {
                "reasoning_tokens": directives.reasoning,
                "audio_tokens": directives.audio_out,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def completion(self) -> dict[str, Any]:
        message = {"role": "assistant", "content": "".join(self.pieces), "refusal": None, "annotations": []}
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": index, "message": message, "logprobs": None, "finish_reason": self.finish_reason}
                for index in range(self.choices)
            ],
            "usage": self.usage(),
            "service_tier": "default",
            "system_fingerprint": "fp_emulator",
        }

    def chunks(self) -> list[dict[str, Any]]:
        events = []
        for index in range(self.choices):
            events.append(self._chunk(index, {"role": "assistant", "content": "", "refusal": None}, None))
        for position, piece in enumerate(self.pieces):
            if self.directives.error_after is not None and position == self.directives.error_after:
                events.append(_MID_STREAM_ERROR)
                return events
            for index in range(self.choices):
                events.append(self._chunk(index, {"content": piece}, None))
        for index in range(self.choices):
            events.append(self._chunk(index, {}, self.finish_reason))
        if self.include_usage:
            events.append(self._envelope([], self.usage()))
        return events

    def _chunk(self, index: int, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._envelope([choice], None)

    def _envelope(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
        envelope: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": "fp_emulator",
            "choices": choices,
        }
        if self.include_usage:
            envelope["usage"] = usage
        return envelope
