"""OpenAI's Chat Completions wire format, as OpenAI and the OpenAI-compatible servers speak it.

Every server is served under its own prefix (`/deepseek/v1/chat/completions`)
and differs in how it is asked to reason and where it puts the reasoning text:

| prefix | reasoning on when | reasoning text in |
|---|---|---|
| openai | a reasoning model (o-series, gpt-5) unless `reasoning_effort: none` | nowhere: tokens only |
| deepseek | `thinking.type: enabled`, or `deepseek-reasoner` without `thinking` | `reasoning_content` |
| openrouter | a `reasoning` object that is not `enabled: false` or `effort: none` | `reasoning`, `reasoning_details` |
| xai | a `-mini` model, or `reasoning_effort` | `reasoning_content` |
| qwen | `enable_thinking: true` | `reasoning_content` |
| ollama | `reasoning_effort` other than `none` | `reasoning` |
| vllm | `chat_template_kwargs.enable_thinking`, on unless false | `reasoning` |
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from provider_emulator.directives import Directives, parse_directives
from provider_emulator.events import ClientGone, EventStream
from provider_emulator.failures import FailurePlan
from provider_emulator.recorder import Recorder
from provider_emulator.scenario import IMAGE_PNG_BASE64, Conversation, Scenario, build_scenario
from provider_emulator.text import message_text

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
    402: {
        "message": "Insufficient Balance",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_request_error",
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

_REASONING_MODEL_PREFIXES = ("o1", "o3", "o4", "gpt-5")
# Fields OpenAI accepts on an assistant message; it rejects any other.
_ASSISTANT_FIELDS = frozenset(
    {"role", "content", "name", "tool_calls", "refusal", "audio", "function_call", "annotations"}
)


def error_response(status: int) -> web.Response:
    detail = _ERRORS.get(status, _ERRORS[500])
    headers = {"retry-after": "1"} if status == 429 else None
    return web.Response(
        status=status, body=orjson.dumps({"error": detail}), content_type="application/json", headers=headers
    )


def invalid_request(message: str, param: str | None, code: str | None = None) -> web.Response:
    detail = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return web.Response(status=400, body=orjson.dumps({"error": detail}), content_type="application/json")


@dataclass(frozen=True, slots=True)
class Profile:
    """How one OpenAI-compatible server reasons."""

    # Where the reasoning text goes, or None when the server returns none.
    reasoning_field: str | None
    thinks: Callable[[dict[str, Any]], bool]
    validate: Callable[[dict[str, Any]], web.Response | None] = lambda payload: None
    # An SSE comment the server sends before the first event.
    stream_comment: bytes | None = None


def _openai_thinks(payload: dict[str, Any]) -> bool:
    return (
        str(payload.get("model", "")).startswith(_REASONING_MODEL_PREFIXES)
        and payload.get("reasoning_effort") != "none"
    )


def _openai_validate(payload: dict[str, Any]) -> web.Response | None:
    reasoning_model = str(payload.get("model", "")).startswith(_REASONING_MODEL_PREFIXES)
    if reasoning_model and "max_tokens" in payload:
        return invalid_request(
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "max_tokens",
            "unsupported_parameter",
        )
    if not reasoning_model and "reasoning_effort" in payload:
        return invalid_request(
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
            "reasoning_effort",
            "unsupported_parameter",
        )
    for index, message in enumerate(payload.get("messages") or ()):
        if message.get("role") != "assistant":
            continue
        unexpected = sorted(set(message) - _ASSISTANT_FIELDS)
        if unexpected:
            return invalid_request(
                f"Additional properties are not allowed ('{unexpected[0]}' was unexpected)", f"messages[{index}]"
            )
    return None


def _deepseek_thinks(payload: dict[str, Any]) -> bool:
    thinking = payload.get("thinking")
    if isinstance(thinking, dict):
        return thinking.get("type") == "enabled"
    return payload.get("model") == "deepseek-reasoner"


def _deepseek_validate(payload: dict[str, Any]) -> web.Response | None:
    if not _deepseek_thinks(payload):
        return None
    for index, message in enumerate(payload.get("messages") or ()):
        if message.get("role") == "assistant" and message.get("tool_calls") and "reasoning_content" not in message:
            return invalid_request(
                f"Missing `reasoning_content` field in the assistant message at message index {index}. "
                f"The `reasoning_content` in the thinking mode must be passed back to the API.",
                None,
                "invalid_request_error",
            )
    return None


def _openrouter_thinks(payload: dict[str, Any]) -> bool:
    reasoning = payload.get("reasoning")
    if not isinstance(reasoning, dict):
        return False
    return reasoning.get("enabled") is not False and reasoning.get("effort") != "none"


def _openrouter_validate(payload: dict[str, Any]) -> web.Response | None:
    reasoning = payload.get("reasoning")
    if isinstance(reasoning, dict) and "effort" in reasoning and "max_tokens" in reasoning:
        return invalid_request("Only one of reasoning.effort and reasoning.max_tokens may be set.", "reasoning")
    return None


def _effort_thinks(payload: dict[str, Any]) -> bool:
    return payload.get("reasoning_effort") not in (None, "none")


def _vllm_thinks(payload: dict[str, Any]) -> bool:
    return (payload.get("chat_template_kwargs") or {}).get("enable_thinking") is not False


PLAIN = Profile(reasoning_field=None, thinks=lambda payload: False)
PROFILES: dict[str, Profile] = {
    "openai": Profile(None, _openai_thinks, _openai_validate),
    "deepseek": Profile("reasoning_content", _deepseek_thinks, _deepseek_validate, b": keep-alive\n\n"),
    "openrouter": Profile("reasoning", _openrouter_thinks, _openrouter_validate, b": OPENROUTER PROCESSING\n\n"),
    "xai": Profile(
        "reasoning_content", lambda payload: "-mini" in str(payload.get("model", "")) or _effort_thinks(payload)
    ),
    "qwen": Profile("reasoning_content", lambda payload: payload.get("enable_thinking") is True),
    "ollama": Profile("reasoning", _effort_thinks),
    "vllm": Profile("reasoning", _vllm_thinks),
}


class ChatCompletions:
    """The handler of every emulated OpenAI-compatible provider."""

    def __init__(self, recorder: Recorder, failures: FailurePlan) -> None:
        self._recorder = recorder
        self._failures = failures

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return error_response(400)
        seq = self._recorder.record_request(request.path, dict(request.headers), payload)

        if request.headers.get("Authorization") in (None, f"Bearer {INVALID_KEY}"):
            return error_response(401)
        messages = payload.get("messages") or []
        texts = [message_text(message.get("content")) for message in messages]
        directives = parse_directives(texts)
        if directives.first_delay_ms:
            await asyncio.sleep(directives.first_delay_ms / 1000)
        model = str(payload.get("model", ""))
        if directives.error is not None:
            status = self._failures.status(directives, model, request.path + "\n".join(texts))
            if status is not None:
                return error_response(status)

        profile = PROFILES.get(request.path.split("/", 2)[1], PLAIN)
        problem = profile.validate(payload)
        if problem is not None:
            return problem
        thinks = profile.thinks(payload)
        scenario = build_scenario(
            _conversation(model, messages, texts),
            directives,
            thinks=thinks,
            shows_thoughts=thinks and profile.reasoning_field is not None,
            max_tokens=payload.get("max_completion_tokens") or payload.get("max_tokens"),
            call_id="call_" + secrets.token_hex(12),
        )
        reply = _Reply(payload, scenario, profile, directives, request.path.split("/", 2)[1])
        if payload.get("stream"):
            return await self._stream(request, reply, seq)
        return web.Response(body=orjson.dumps(reply.completion()), content_type="application/json")

    async def _stream(self, request: web.Request, reply: _Reply, seq: int) -> web.StreamResponse:
        stream = EventStream(request, reply.directives, self._recorder, seq)
        await stream.prepare()
        try:
            if reply.profile.stream_comment:
                await stream.write(reply.profile.stream_comment, counts=False)
            for event in reply.chunks():
                if event is _MID_STREAM_ERROR:
                    await stream.write(b"data: " + orjson.dumps({"error": _ERRORS[500]}) + b"\n\n")
                    return stream.response
                await stream.write(b"data: " + orjson.dumps(event) + b"\n\n")
            await stream.write(b"data: [DONE]\n\n", counts=False)
            await stream.close()
        except (ConnectionError, ClientGone):
            stream.gone()
        return stream.response


_MID_STREAM_ERROR: dict[str, Any] = {}


def _conversation(model: str, messages: list[dict[str, Any]], texts: list[str]) -> Conversation:
    user_texts = [text for message, text in zip(messages, texts, strict=True) if message.get("role") == "user"]
    last = messages[-1] if messages else {}
    audio = sum(
        1
        for message in messages
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") == "input_audio"
    )
    return Conversation(
        model=model,
        texts=texts,
        last_user_text=user_texts[-1] if user_texts else "",
        tool_result=texts[-1] if last.get("role") == "tool" else None,
        audio_parts=audio,
    )


class _Reply:
    """The emulated answer to one request, in both response shapes."""

    def __init__(
        self, payload: dict[str, Any], scenario: Scenario, profile: Profile, directives: Directives, provider: str
    ) -> None:
        self.scenario = scenario
        self.profile = profile
        self.directives = directives
        self.provider = provider
        self.model = str(payload.get("model", ""))
        self.choices = int(payload.get("n") or 1)
        self.include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())

    def usage(self, stream: bool = False) -> dict[str, Any]:
        scenario = self.scenario
        completion = scenario.completion_tokens * self.choices
        usage: dict[str, Any] = {
            "prompt_tokens": scenario.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": scenario.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": scenario.cached_tokens, "audio_tokens": scenario.audio_tokens},
            "completion_tokens_details": {
                "reasoning_tokens": scenario.reasoning_tokens * self.choices,
                "audio_tokens": scenario.audio_output_tokens * self.choices,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        if scenario.cache_write_tokens and self.provider != "deepseek":
            usage["prompt_tokens_details"]["cache_write_tokens"] = scenario.cache_write_tokens
        if self.provider == "deepseek":
            # DeepSeek has no cache write counter: written tokens count as plain input.
            usage["prompt_cache_hit_tokens"] = scenario.cached_tokens
            usage["prompt_cache_miss_tokens"] = scenario.prompt_tokens - scenario.cached_tokens
            if stream:
                # DeepSeek's stream usage carries only its own cache fields.
                del usage["prompt_tokens_details"]
        return usage

    def completion(self) -> dict[str, Any]:
        scenario = self.scenario
        message: dict[str, Any] = {
            "role": "assistant",
            "content": scenario.answer_text if not scenario.tool else None,
            "refusal": None,
            "annotations": [],
        }
        if scenario.reasoning and self.profile.reasoning_field:
            message[self.profile.reasoning_field] = scenario.reasoning_text
            if self.provider == "openrouter":
                message["reasoning_details"] = [_reasoning_detail(scenario.reasoning_text)]
        if scenario.tool:
            message["tool_calls"] = [
                {
                    "id": scenario.tool.id,
                    "type": "function",
                    "function": {"name": scenario.tool.name, "arguments": scenario.tool.arguments_json},
                }
            ]
        if scenario.image:
            message["images"] = [_image()]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": index, "message": message, "logprobs": None, "finish_reason": scenario.finish}
                for index in range(self.choices)
            ],
            "usage": self.usage(),
            "service_tier": "default",
            "system_fingerprint": "fp_emulator",
        }

    def chunks(self) -> list[dict[str, Any]]:
        scenario = self.scenario
        events = [self._all({"role": "assistant", "content": "", "refusal": None})]
        field = self.profile.reasoning_field
        if field:
            events.extend(self._all({field: piece}) for piece in scenario.reasoning)
            if scenario.reasoning and self.provider == "openrouter":
                events.append(self._all({"reasoning_details": [_reasoning_detail(scenario.reasoning_text)]}))
        for position, piece in enumerate(scenario.answer):
            if self.directives.error_after is not None and position == self.directives.error_after:
                events.append(_MID_STREAM_ERROR)
                return events
            events.append(self._all({"content": piece}))
            if position == 0 and scenario.image:
                events.append(self._all({"images": [_image()]}))
        if scenario.image and not scenario.answer:
            events.append(self._all({"images": [_image()]}))
        if scenario.tool:
            events.extend(self._all(delta) for delta in _tool_call_deltas(scenario))
        events.append(self._all({}, scenario.finish))
        if self.include_usage:
            events.append(self._envelope([], self.usage(stream=True)))
        return events

    def _all(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choices = [
            {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            for index in range(self.choices)
        ]
        return self._envelope(choices, None)

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


def _tool_call_deltas(scenario: Scenario) -> list[dict[str, Any]]:
    tool = scenario.tool
    assert tool is not None
    arguments = tool.arguments_json
    middle = len(arguments) // 2
    start = {"index": 0, "id": tool.id, "type": "function", "function": {"name": tool.name, "arguments": ""}}
    return [
        {"tool_calls": [start]},
        {"tool_calls": [{"index": 0, "function": {"arguments": arguments[:middle]}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": arguments[middle:]}}]},
    ]


def _reasoning_detail(text: str) -> dict[str, Any]:
    return {"type": "reasoning.text", "text": text, "format": "unknown", "index": 0}


def _image() -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMAGE_PNG_BASE64}"}}
