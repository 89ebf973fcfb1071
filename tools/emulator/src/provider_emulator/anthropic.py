"""Anthropic's Messages API: `POST /anthropic/v1/messages`.

It answers with Anthropic's blocks and event sequence (`message_start`, a
start, deltas and a stop per content block, `message_delta`, `message_stop`),
signs thinking blocks, and rejects what the real API rejects where the
gateway could get it wrong: a missing `max_tokens`, a thinking budget below
1024 or not below `max_tokens`, a temperature other than 1 with thinking,
forced tool use with thinking, the budget form on adaptive-only models, a
thinking block whose signature does not match, and a tool-use turn replayed
without its thinking block.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from typing import Any

import orjson
from aiohttp import web

from provider_emulator.directives import Directives, parse_directives
from provider_emulator.events import ClientGone, EventStream
from provider_emulator.failures import FailurePlan
from provider_emulator.recorder import Recorder
from provider_emulator.scenario import Conversation, Scenario, build_scenario, sign
from provider_emulator.text import message_text

EMULATOR_KEY = "emulator"
MIN_BUDGET_TOKENS = 1024
# Models that take only `thinking.type: adaptive`.
ADAPTIVE_ONLY_PREFIXES = ("claude-opus-4-7",)

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "prompt is too long: 219898 tokens > 200000 maximum"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "This request would exceed your organization's rate limit. Please try again later."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def error_response(status: int, error_type: str | None = None, message: str | None = None) -> web.Response:
    default_type, default_message = _ERRORS.get(status, _ERRORS[500])
    body = {
        "type": "error",
        "error": {"type": error_type or default_type, "message": message or default_message},
        "request_id": "req_" + secrets.token_hex(12),
    }
    headers = {"retry-after": "1"} if status == 429 else None
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


def _invalid(message: str) -> web.Response:
    return error_response(400, "invalid_request_error", message)


class Messages:
    def __init__(self, recorder: Recorder, failures: FailurePlan) -> None:
        self._recorder = recorder
        self._failures = failures

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            payload = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _invalid("The request body is not valid JSON.")
        seq = self._recorder.record_request(request.path, dict(request.headers), payload)

        if request.headers.get("x-api-key") != EMULATOR_KEY:
            return error_response(401)
        if not request.headers.get("anthropic-version"):
            return _invalid("anthropic-version: header is required")
        messages = payload.get("messages") or []
        texts = [_block_text(message.get("content")) for message in messages]
        if payload.get("system"):
            texts.append(_block_text(payload["system"]))
        directives = parse_directives(texts)
        if directives.first_delay_ms:
            await asyncio.sleep(directives.first_delay_ms / 1000)
        model = str(payload.get("model", ""))
        if directives.error is not None:
            status = self._failures.status(directives, model, request.path + "\n".join(texts))
            if status is not None:
                return error_response(status)

        problem = _validate(payload)
        if problem is not None:
            return _invalid(problem)
        if directives.error_after is not None and not self._failures.midstream(
            directives, request.path + "\n".join(texts)
        ):
            directives = replace(directives, error_after=None)
        thinks = (payload.get("thinking") or {}).get("type") in ("enabled", "adaptive")
        scenario = build_scenario(
            _conversation(model, messages, texts),
            directives,
            thinks=thinks,
            shows_thoughts=thinks,
            max_tokens=None,
            call_id="toolu_" + secrets.token_hex(12),
        )
        reply = _Reply(model, scenario, directives, int(payload["max_tokens"]))
        if payload.get("stream"):
            return await self._stream(request, reply, seq)
        return web.Response(body=orjson.dumps(reply.message()), content_type="application/json")

    async def _stream(self, request: web.Request, reply: _Reply, seq: int) -> web.StreamResponse:
        stream = EventStream(request, reply.directives, self._recorder, seq)
        await stream.prepare()
        try:
            for name, data in reply.events():
                await stream.write(b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n")
                if name == "error":
                    return stream.response
            await stream.close()
        except (ConnectionError, ClientGone):
            stream.gone()
        return stream.response


def _validate(payload: dict[str, Any]) -> str | None:
    """The message of Anthropic's 400 for this request, or None when the request is valid."""
    max_tokens = payload.get("max_tokens")
    if not isinstance(max_tokens, int):
        return "max_tokens: Field required"
    messages = payload.get("messages") or []
    for index, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
    thinking = payload.get("thinking") or {}
    kind = thinking.get("type")
    model = str(payload.get("model", ""))
    if kind == "enabled" and model.startswith(ADAPTIVE_ONLY_PREFIXES):
        return (
            '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and '
            '"output_config.effort" to control thinking behavior.'
        )
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < MIN_BUDGET_TOKENS:
            return f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_BUDGET_TOKENS}"
        if budget >= max_tokens:
            return "`max_tokens` must be greater than `thinking.budget_tokens`."
    if kind in ("enabled", "adaptive"):
        problem = _thinking_rules(payload, messages)
        if problem is not None:
            return problem
    return _replayed_signatures(messages)


def _thinking_rules(payload: dict[str, Any], messages: list[dict[str, Any]]) -> str | None:
    temperature = payload.get("temperature")
    if temperature is not None and temperature != 1:
        return "`temperature` may only be set to 1 when thinking is enabled."
    if (payload.get("tool_choice") or {}).get("type") in ("any", "tool"):
        return "Thinking may not be enabled when tool_choice forces tool use."
    # In a tool-use loop the assistant turn before the tool results must
    # start with its thinking block.
    if len(messages) >= 2 and _has_block(messages[-1], "tool_result"):
        previous = messages[-2]
        content = previous.get("content")
        first = content[0].get("type") if isinstance(content, list) and content else "text"
        if previous.get("role") == "assistant" and first not in ("thinking", "redacted_thinking"):
            return (
                f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or `redacted_thinking`, but "
                f"found `{first}`. When `thinking` is enabled, a final `assistant` message must start with a "
                f"thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks)."
            )
    return None


def _replayed_signatures(messages: list[dict[str, Any]]) -> str | None:
    for index, message in enumerate(messages):
        content = message.get("content")
        if message.get("role") != "assistant" or not isinstance(content, list):
            continue
        for position, block in enumerate(content):
            if block.get("type") == "thinking" and block.get("signature") != sign(block.get("thinking", "")):
                return f"messages.{index}.content.{position}: Invalid `signature` in `thinking` block"
    return None


def _has_block(message: dict[str, Any], kind: str) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(block.get("type") == kind for block in content)


def _block_text(content: Any) -> str:
    if isinstance(content, list):
        texts = []
        for block in content:
            if block.get("type") == "tool_result":
                texts.append(_block_text(block.get("content")))
            elif block.get("type") == "text":
                texts.append(block.get("text", ""))
        return "\n".join(texts)
    return message_text(content)


def _conversation(model: str, messages: list[dict[str, Any]], texts: list[str]) -> Conversation:
    last = messages[-1] if messages else {}
    user_texts = [
        text
        for message, text in zip(messages, texts, strict=False)
        if message.get("role") == "user" and not _has_block(message, "tool_result")
    ]
    return Conversation(
        model=model,
        texts=texts,
        last_user_text=user_texts[-1] if user_texts else "",
        tool_result=texts[len(messages) - 1] if _has_block(last, "tool_result") else None,
    )


class _Reply:
    def __init__(self, model: str, scenario: Scenario, directives: Directives, max_tokens: int) -> None:
        self.model = model
        self.scenario = scenario
        self.directives = directives
        self.id = "msg_" + secrets.token_hex(12)
        if scenario.finish == "stop" and len(scenario.answer) + scenario.reasoning_tokens > max_tokens:
            scenario.finish = "length"

    def blocks(self) -> list[dict[str, Any]]:
        scenario = self.scenario
        blocks: list[dict[str, Any]] = []
        if scenario.reasoning:
            text = scenario.reasoning_text
            blocks.append({"type": "thinking", "thinking": text, "signature": sign(text)})
        if self.directives.redacted and scenario.reasoning:
            blocks.append({"type": "redacted_thinking", "data": "EmuRedacted" + secrets.token_hex(8)})
        if scenario.answer:
            blocks.append({"type": "text", "text": scenario.answer_text})
        if scenario.tool:
            tool = scenario.tool
            blocks.append({"type": "tool_use", "id": tool.id, "name": tool.name, "input": tool.arguments})
        return blocks

    def usage(self, output_tokens: int | None = None) -> dict[str, Any]:
        scenario = self.scenario
        usage: dict[str, Any] = {
            "input_tokens": scenario.prompt_tokens - scenario.cached_tokens - scenario.cache_write_tokens,
            "cache_creation_input_tokens": scenario.cache_write_tokens,
            "cache_read_input_tokens": scenario.cached_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": scenario.cache_write_tokens,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": scenario.completion_tokens if output_tokens is None else output_tokens,
            "service_tier": "standard",
        }
        if scenario.reasoning_tokens:
            usage["output_tokens_details"] = {"thinking_tokens": scenario.reasoning_tokens}
        return usage

    def message(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.blocks(),
            "stop_reason": _STOP_REASONS[self.scenario.finish],
            "stop_sequence": None,
            "usage": self.usage(),
        }

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """The stream's events in order, as (event name, data)."""
        start = {**self.message(), "content": [], "stop_reason": None, "usage": self.usage(output_tokens=1)}
        events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
        events.append(("ping", {"type": "ping"}))
        for index, block in enumerate(self.blocks()):
            events.extend(self._block_events(index, block))
            if events[-1][0] == "error":
                return events
        delta_usage = {"output_tokens": self.scenario.completion_tokens}
        if self.scenario.reasoning_tokens:
            delta_usage["output_tokens_details"] = {"thinking_tokens": self.scenario.reasoning_tokens}
        stop = {"stop_reason": _STOP_REASONS[self.scenario.finish], "stop_sequence": None}
        events.append(("message_delta", {"type": "message_delta", "delta": stop, "usage": delta_usage}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def _block_events(self, index: int, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        kind = block["type"]
        if kind == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": piece} for piece in self.scenario.reasoning]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "text":
            opening = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in self.scenario.answer]
        elif kind == "tool_use":
            opening = {**block, "input": {}}
            arguments = orjson.dumps(block["input"]).decode()
            middle = len(arguments) // 2
            deltas = [
                {"type": "input_json_delta", "partial_json": arguments[:middle]},
                {"type": "input_json_delta", "partial_json": arguments[middle:]},
            ]
        else:
            opening, deltas = block, []

        events = [("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening})]
        for position, delta in enumerate(deltas):
            if kind == "text" and position == self.directives.error_after:
                events.append(
                    ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
                )
                return events
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        return events
