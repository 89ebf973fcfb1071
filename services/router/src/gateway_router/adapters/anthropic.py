"""Anthropic's Messages API, translated to and from OpenAI's Chat Completions.

Requests: system messages move to `system`, tool results become `tool_result`
blocks in a user turn, images and PDFs become `image` and `document` blocks,
and the reasoning plan becomes `thinking` (`enabled` with `budget_tokens`, or
`adaptive` with `output_config.effort`).

Replies: thinking blocks become `reasoning_content`, and are also kept whole
with their signatures (redacted blocks with their data) in `thinking_blocks`,
which a client sends back on the assistant message of the next turn, as
Anthropic requires during a tool-use loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import orjson

from gateway_contracts import TokenUsage
from gateway_router.adapters.base import CallContext, ParsedResponse, StreamPiece, UpstreamRequest
from gateway_router.adapters.common import (
    REASONING_CONTENT,
    THINKING_BLOCKS,
    ChunkWriter,
    completion,
    file_media,
    image_media,
    reject_unsupported,
    stream_ended_early,
    text_of,
    tool_arguments,
)
from gateway_router.errors import RequestRejected, UpstreamFailed
from gateway_router.upstream_errors import classify_status

ANTHROPIC_VERSION = "2023-06-01"
# `max_tokens` is required by the Messages API; this is sent when the client gives none.
DEFAULT_MAX_TOKENS = 4096

_UNSUPPORTED = (
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "audio",
    "prediction",
)
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# The HTTP status that each error type of a mid-stream `error` event stands for.
_STATUS_BY_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class AnthropicAdapter:
    inlines_image_urls = False

    def build_request(self, body: dict[str, Any], context: CallContext) -> UpstreamRequest:
        provider = context.route.spec.name
        reject_unsupported(body, _UNSUPPORTED, provider)
        system, messages = _messages(body["messages"], provider)
        payload: dict[str, Any] = {
            "model": context.entry.upstream_name,
            "messages": messages,
            "max_tokens": _max_tokens(body, context),
        }
        if system:
            payload["system"] = system
        _sampling(payload, body, provider)
        _tools(payload, body, provider)
        _output_format(payload, body, provider)
        if body.get("user"):
            payload["metadata"] = {"user_id": body["user"]}
        if context.stream:
            payload["stream"] = True
        _thinking(payload, context)

        headers = {"Content-Type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
        if context.route.api_key:
            headers["x-api-key"] = context.route.api_key
        return UpstreamRequest(url=f"{context.route.base_url}/v1/messages", headers=headers, body=orjson.dumps(payload))

    def parse_response(self, data: bytes, context: CallContext) -> ParsedResponse:
        reply = orjson.loads(data)
        message: dict[str, Any] = {"role": "assistant", "content": None}
        texts: list[str] = []
        reasoning: list[str] = []
        blocks: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for block in reply.get("content") or ():
            kind = block.get("type")
            if kind == "text":
                texts.append(block.get("text") or "")
            elif kind == "thinking":
                reasoning.append(block.get("thinking") or "")
                blocks.append(_thinking_block(block.get("thinking") or "", block.get("signature") or ""))
            elif kind == "redacted_thinking":
                blocks.append({"type": "redacted_thinking", "data": block.get("data") or ""})
            elif kind == "tool_use":
                calls.append(_tool_call(block, orjson.dumps(block.get("input") or {}).decode()))
        if texts:
            message["content"] = "".join(texts)
        if reasoning:
            message[REASONING_CONTENT] = "".join(reasoning)
        if blocks:
            message[THINKING_BLOCKS] = blocks
        if calls:
            message["tool_calls"] = calls

        usage = _usage(reply.get("usage") or {})
        model = str(reply.get("model") or context.entry.upstream_name)
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": _FINISH_REASONS.get(reply.get("stop_reason") or "", "stop"),
        }
        body = completion(f"chatcmpl-{reply.get('id', '')}", model, [choice], usage)
        return ParsedResponse(
            body=orjson.dumps(body), usage=usage, message=message, upstream_model=model, document=body
        )

    async def parse_stream(self, lines: AsyncIterator[bytes], context: CallContext) -> AsyncIterator[StreamPiece]:
        stream = _MessageStream(context)
        async for payload in lines:
            for piece in stream.on_event(orjson.loads(payload)):
                yield piece
            if stream.finished:
                return
        raise stream_ended_early(context.route.spec.name)

    def classify_error(
        self, status: int, body: bytes, headers: Mapping[str, str], context: CallContext
    ) -> UpstreamFailed:
        error = _error_object(body)
        return classify_status(
            provider=context.route.spec.name,
            credential_advice=context.route.spec.credential_advice,
            status=status,
            upstream_message=error.get("message"),
            upstream_code=error.get("type"),
            headers=headers,
        )


class _MessageStream:
    """Turns Anthropic's stream events into OpenAI chunks.

    Anthropic numbers content blocks of every kind; OpenAI numbers tool calls
    only, so tool calls get their own index. A thinking block streams as
    `reasoning_content` deltas and, once its signature has arrived, as one
    whole entry of `thinking_blocks`.
    """

    def __init__(self, context: CallContext) -> None:
        self.context = context
        self.writer = ChunkWriter("chatcmpl-", context.entry.upstream_name)
        self.usage: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.finished = False
        # Per Anthropic block index: the block's kind and, for tool calls, its OpenAI index.
        self.blocks: dict[int, dict[str, Any]] = {}
        self.tool_calls = 0

    def on_event(self, event: dict[str, Any]) -> Iterator[StreamPiece]:
        kind = event.get("type")
        if kind == "message_start":
            yield from self._start(event.get("message") or {})
        elif kind == "content_block_start":
            yield from self._block_start(int(event.get("index", 0)), event.get("content_block") or {})
        elif kind == "content_block_delta":
            yield from self._block_delta(int(event.get("index", 0)), event.get("delta") or {})
        elif kind == "content_block_stop":
            yield from self._block_stop(int(event.get("index", 0)))
        elif kind == "message_delta":
            self.stop_reason = (event.get("delta") or {}).get("stop_reason") or self.stop_reason
            for key, value in (event.get("usage") or {}).items():
                if value is not None:
                    self.usage[key] = value
        elif kind == "message_stop":
            self.finished = True
            finish = _FINISH_REASONS.get(self.stop_reason or "", "stop")
            yield self.writer.chunk({}, finish)
            yield self.writer.usage_chunk(_usage(self.usage))
        elif kind == "error":
            raise _stream_error(event.get("error") or {}, self.context)

    def _start(self, message: dict[str, Any]) -> Iterator[StreamPiece]:
        self.writer.id = f"chatcmpl-{message.get('id', '')}"
        self.writer.model = str(message.get("model") or self.writer.model)
        self.usage = dict(message.get("usage") or {})
        yield self.writer.chunk({"role": "assistant", "content": ""})

    def _block_start(self, index: int, block: dict[str, Any]) -> Iterator[StreamPiece]:
        kind = block.get("type")
        state: dict[str, Any] = {"type": kind}
        self.blocks[index] = state
        if kind == "thinking":
            state["thinking"] = [block.get("thinking") or ""]
            state["signature"] = block.get("signature") or ""
        elif kind == "redacted_thinking":
            yield self.writer.chunk({THINKING_BLOCKS: [{"type": "redacted_thinking", "data": block.get("data", "")}]})
        elif kind == "text" and block.get("text"):
            yield self.writer.chunk({"content": block["text"]})
        elif kind == "tool_use":
            state["tool_index"] = self.tool_calls
            self.tool_calls += 1
            call = _tool_call(block, "")
            yield self.writer.chunk({"tool_calls": [{"index": state["tool_index"], **call}]})

    def _block_delta(self, index: int, delta: dict[str, Any]) -> Iterator[StreamPiece]:
        state = self.blocks.get(index, {})
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            yield self.writer.chunk({"content": delta["text"]})
        elif kind == "thinking_delta" and delta.get("thinking"):
            state.setdefault("thinking", []).append(delta["thinking"])
            yield self.writer.chunk({REASONING_CONTENT: delta["thinking"]})
        elif kind == "signature_delta":
            # The signature arrives whole, once, and replaces any earlier value.
            state["signature"] = delta.get("signature") or ""
        elif kind == "input_json_delta" and delta.get("partial_json"):
            piece = {"index": state.get("tool_index", 0), "function": {"arguments": delta["partial_json"]}}
            yield self.writer.chunk({"tool_calls": [piece]})

    def _block_stop(self, index: int) -> Iterator[StreamPiece]:
        state = self.blocks.get(index, {})
        if state.get("type") == "thinking":
            block = _thinking_block("".join(state.get("thinking", ())), state.get("signature", ""))
            yield self.writer.chunk({THINKING_BLOCKS: [block]})


def _messages(messages: list[dict[str, Any]], provider: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split OpenAI messages into Anthropic's `system` blocks and alternating user and assistant turns."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        role = message["role"]
        param = f"messages[{index}]"
        if role in ("system", "developer"):
            system.append({"type": "text", "text": text_of(message.get("content"), f"{param}.content", provider)})
        elif role == "user":
            _append(turns, "user", _user_blocks(message.get("content"), f"{param}.content", provider))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(message, param))
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message["tool_call_id"],
                "content": _tool_result_content(message.get("content"), f"{param}.content", provider),
            }
            _append(turns, "user", [result])
        else:
            raise RequestRejected(
                f"Provider `{provider}` does not take `{role}` messages; use `tool` messages for tool results.",
                code="unsupported_parameter",
                param=f"{param}.role",
            )
    return system, turns


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    # Consecutive turns of one role merge, so that tool results and the text
    # after them reach Anthropic as one user turn, results first.
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _user_blocks(content: Any, param: str, provider: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = []
    for index, part in enumerate(content or ()):
        kind = part.get("type")
        part_param = f"{param}[{index}]"
        if kind == "text":
            blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image_block(part, f"{part_param}.image_url.url", provider))
        elif kind == "file":
            blocks.append(_document_block(part, part_param, provider))
        else:
            raise RequestRejected(
                f"Provider `{provider}` does not take `{kind}` content parts.",
                code="unsupported_parameter",
                param=part_param,
            )
    return blocks


def _image_block(part: Mapping[str, Any], param: str, provider: str) -> dict[str, Any]:
    media = image_media(part, param)
    if media is None:
        # Anthropic fetches https images itself.
        return {"type": "image", "source": {"type": "url", "url": part["image_url"]["url"]}}
    if media.media_type not in _IMAGE_TYPES:
        raise RequestRejected(
            f"Provider `{provider}` takes JPEG, PNG, GIF and WebP images, not `{media.media_type}`.",
            code="unsupported_parameter",
            param=param,
        )
    return {"type": "image", "source": {"type": "base64", "media_type": media.media_type, "data": media.data}}


def _document_block(part: Mapping[str, Any], param: str, provider: str) -> dict[str, Any]:
    media = file_media(part, param, provider)
    if media.media_type != "application/pdf":
        raise RequestRejected(
            f"Provider `{provider}` takes PDF files, not `{media.media_type}`.",
            code="unsupported_parameter",
            param=f"{param}.file",
        )
    block: dict[str, Any] = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf"}}
    block["source"]["data"] = media.data
    if part["file"].get("filename"):
        block["title"] = part["file"]["filename"]
    return block


def _tool_result_content(content: Any, param: str, provider: str) -> Any:
    if content is None or isinstance(content, str):
        return content or ""
    return _user_blocks(content, param, provider)


def _assistant_blocks(message: Mapping[str, Any], param: str) -> list[dict[str, Any]]:
    # Thinking blocks go first and unchanged: Anthropic checks their signatures.
    blocks: list[dict[str, Any]] = []
    thinking = message.get(THINKING_BLOCKS) or []
    if not isinstance(thinking, list):
        list_param = f"{param}.{THINKING_BLOCKS}"
        raise RequestRejected(f"Invalid `{list_param}`: expected a list of blocks.", param=list_param)
    for index, block in enumerate(thinking):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "redacted_thinking":
            blocks.append({"type": "redacted_thinking", "data": str(block.get("data", ""))})
        elif kind == "thinking":
            blocks.append(_thinking_block(str(block.get("thinking", "")), str(block.get("signature", ""))))
        else:
            block_param = f"{param}.{THINKING_BLOCKS}[{index}]"
            raise RequestRejected(
                f"Invalid `{block_param}`: expected an object whose `type` is `thinking` or `redacted_thinking`.",
                param=block_param,
            )

    content = message.get("content")
    if isinstance(content, str) and content:
        blocks.append({"type": "text", "text": content})
    elif isinstance(content, list):
        blocks.extend({"type": "text", "text": part["text"]} for part in content if part.get("type") == "text")

    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call["function"]
        arguments = tool_arguments(function.get("arguments", ""), f"{param}.tool_calls[{index}].function.arguments")
        blocks.append({"type": "tool_use", "id": call["id"], "name": function["name"], "input": arguments})
    return blocks


def _max_tokens(body: Mapping[str, Any], context: CallContext) -> int:
    explicit = body.get("max_completion_tokens") or body.get("max_tokens")
    if context.plan is not None and context.plan.max_tokens is not None:
        return context.plan.max_tokens
    if explicit:
        return int(explicit)
    ceiling = context.entry.max_output_tokens or DEFAULT_MAX_TOKENS
    return min(ceiling, DEFAULT_MAX_TOKENS)


def _sampling(payload: dict[str, Any], body: Mapping[str, Any], provider: str) -> None:
    temperature = body.get("temperature")
    if temperature is not None:
        if temperature > 1:
            raise RequestRejected(
                f"Provider `{provider}` takes a `temperature` between 0 and 1, not {temperature}.",
                code="unsupported_parameter",
                param="temperature",
            )
        payload["temperature"] = temperature
    for key in ("top_p", "top_k"):
        if body.get(key) is not None:
            payload[key] = body[key]
    stop = body.get("stop")
    if stop:
        payload["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)


def _tools(payload: dict[str, Any], body: Mapping[str, Any], provider: str) -> None:
    tools = body.get("tools")
    if tools:
        converted = []
        for index, tool in enumerate(tools):
            if tool.get("type") != "function":
                raise RequestRejected(
                    f"Provider `{provider}` takes `function` tools only.",
                    code="unsupported_parameter",
                    param=f"tools[{index}].type",
                )
            function = tool["function"]
            item: dict[str, Any] = {
                "name": function["name"],
                "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
            }
            if function.get("description"):
                item["description"] = function["description"]
            converted.append(item)
        payload["tools"] = converted

    choice = _tool_choice(body.get("tool_choice"))
    if body.get("parallel_tool_calls") is False:
        choice = choice or {"type": "auto"}
        choice["disable_parallel_tool_use"] = True
    if choice is not None:
        payload["tool_choice"] = choice


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, str):
        return {"type": choice}
    return {"type": "tool", "name": choice["function"]["name"]}


def _output_format(payload: dict[str, Any], body: Mapping[str, Any], provider: str) -> None:
    response_format = body.get("response_format")
    if not response_format or response_format.get("type") == "text":
        return
    if response_format.get("type") != "json_schema":
        raise RequestRejected(
            f"Provider `{provider}` takes `response_format` of type `json_schema` only; "
            f"send the JSON schema the reply must follow.",
            code="unsupported_parameter",
            param="response_format",
        )
    schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
    payload.setdefault("output_config", {})["format"] = {"type": "json_schema", "schema": schema}


def _thinking(payload: dict[str, Any], context: CallContext) -> None:
    plan = context.plan
    spec = context.entry.reasoning
    if plan is None or spec is None:
        return
    if not plan.enabled:
        payload["thinking"] = {"type": "disabled"}
        return
    if spec.style == "anthropic_adaptive":
        payload["thinking"] = {"type": "adaptive"}
        if plan.effort is not None:
            payload.setdefault("output_config", {})["effort"] = plan.effort
        return
    payload["thinking"] = {"type": "enabled", "budget_tokens": plan.budget_tokens}


def _thinking_block(thinking: str, signature: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": thinking, "signature": signature}


def _tool_call(block: Mapping[str, Any], arguments: str) -> dict[str, Any]:
    return {
        "id": block.get("id", ""),
        "type": "function",
        "function": {"name": block.get("name", ""), "arguments": arguments},
    }


def _usage(raw: Mapping[str, Any]) -> TokenUsage:
    """Anthropic's input excludes cache reads and writes; OpenAI's prompt tokens include them."""
    fresh = int(raw.get("input_tokens") or 0)
    written = int(raw.get("cache_creation_input_tokens") or 0)
    read = int(raw.get("cache_read_input_tokens") or 0)
    output = int(raw.get("output_tokens") or 0)
    details = raw.get("output_tokens_details") or {}
    prompt = fresh + written + read
    return TokenUsage(
        prompt_tokens=prompt,
        completion_tokens=output,
        total_tokens=prompt + output,
        cached_tokens=read,
        cache_write_tokens=written,
        reasoning_tokens=int(details.get("thinking_tokens") or 0),
    )


def _error_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else {}


def _stream_error(error: Mapping[str, Any], context: CallContext) -> UpstreamFailed:
    kind = str(error.get("type") or "api_error")
    return classify_status(
        provider=context.route.spec.name,
        credential_advice=context.route.spec.credential_advice,
        status=_STATUS_BY_ERROR_TYPE.get(kind, 500),
        upstream_message=error.get("message"),
        upstream_code=kind,
    )
