"""Google's Gemini API (`generateContent` and `streamGenerateContent?alt=sse`), translated to and from OpenAI's.

Requests: system messages move to `systemInstruction`, assistant turns become
`model` contents, tool results become `functionResponse` parts named after
the call they reply to, images, PDFs and audio become `inlineData` parts (the
router fetched https images beforehand), and the reasoning plan becomes
`generationConfig.thinkingConfig`.

Replies: thought parts become `reasoning_content`, function calls become tool
calls that carry the part's thought signature in
`extra_content.google.thought_signature` (the field Gemini's own
OpenAI-compatible endpoint uses), to be sent back on the next turn, and
inline images become data URLs under `images`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway_contracts import TokenUsage
from gateway_router.adapters.base import CallContext, ParsedResponse, StreamPiece, UpstreamRequest
from gateway_router.adapters.common import (
    IMAGES,
    REASONING_CONTENT,
    TOOL_CALL_EXTRA,
    ChunkWriter,
    Media,
    audio_media,
    completion,
    file_media,
    image_media,
    new_tool_call_id,
    reject_unsupported,
    stream_ended_early,
    text_of,
    tool_arguments,
)
from gateway_router.errors import RequestRejected, UpstreamFailed
from gateway_router.upstream_errors import classify_status

_UNSUPPORTED = ("logprobs", "top_logprobs", "logit_bias", "audio", "prediction")
_STOP_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}
_FILTER_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
# Gemini levels by our effort names; `xhigh` and `max` have no level above HIGH.
_LEVELS = {"minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH", "xhigh": "HIGH", "max": "HIGH"}
# Tool call ids that the adapter made up, because Gemini sent none; they are
# not sent back as `functionCall.id`.
_MADE_UP_ID_PREFIX = "call_"


class GeminiAdapter:
    inlines_image_urls = True

    def build_request(self, body: dict[str, Any], context: CallContext) -> UpstreamRequest:
        provider = context.route.spec.name
        reject_unsupported(body, _UNSUPPORTED, provider)
        system, contents = _contents(body["messages"], provider)
        payload: dict[str, Any] = {"contents": contents}
        if system:
            payload["systemInstruction"] = {"parts": [{"text": text} for text in system]}
        _tools(payload, body, provider)
        config = _generation_config(body, context, provider)
        if config:
            payload["generationConfig"] = config

        method = "streamGenerateContent?alt=sse" if context.stream else "generateContent"
        headers = {"Content-Type": "application/json"}
        if context.route.api_key:
            headers["x-goog-api-key"] = context.route.api_key
        return UpstreamRequest(
            url=f"{context.route.base_url}/v1beta/models/{context.entry.upstream_name}:{method}",
            headers=headers,
            body=orjson.dumps(payload),
        )

    def parse_response(self, data: bytes, context: CallContext) -> ParsedResponse:
        reply = orjson.loads(data)
        model = str(reply.get("modelVersion") or context.entry.upstream_name)
        choices = []
        for position, raw in enumerate(_candidates(reply)):
            candidate = _Candidate()
            for _delta in candidate.read(raw):
                pass
            choices.append(
                {
                    "index": int(raw.get("index", position)),
                    "message": candidate.message(),
                    "logprobs": None,
                    "finish_reason": candidate.finish_reason(),
                }
            )
        usage = _usage(reply.get("usageMetadata") or {})
        body = completion(f"chatcmpl-{reply.get('responseId', '')}", model, choices, usage)
        message = choices[0]["message"] if choices else None
        return ParsedResponse(
            body=orjson.dumps(body), usage=usage, message=message, upstream_model=model, document=body
        )

    async def parse_stream(self, lines: AsyncIterator[bytes], context: CallContext) -> AsyncIterator[StreamPiece]:
        writer: ChunkWriter | None = None
        candidates: dict[int, _Candidate] = {}
        usage: dict[str, Any] = {}
        async for payload in lines:
            event = orjson.loads(payload)
            if event.get("error") is not None:
                raise _classify(502, event["error"], None, context)
            if writer is None:
                writer = ChunkWriter(f"chatcmpl-{event.get('responseId', '')}", context.entry.upstream_name)
                writer.model = str(event.get("modelVersion") or writer.model)
                yield writer.chunk({"role": "assistant", "content": ""})
            # Each event's usage is a running total, so the last one counts.
            usage = event.get("usageMetadata") or usage
            for position, raw in enumerate(_candidates(event)):
                index = int(raw.get("index", position))
                candidate = candidates.setdefault(index, _Candidate())
                for delta in candidate.read(raw):
                    yield writer.chunk(delta, index=index)

        if writer is None or not candidates or any(c.native_finish is None for c in candidates.values()):
            # A Gemini stream ends without a sentinel; only a finish reason
            # shows that the reply is complete.
            raise stream_ended_early(context.route.spec.name)
        for index in sorted(candidates):
            yield writer.chunk({}, candidates[index].finish_reason(), index)
        yield writer.usage_chunk(_usage(usage))

    def classify_error(
        self, status: int, body: bytes, headers: Mapping[str, str], context: CallContext
    ) -> UpstreamFailed:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = {}
        error = parsed.get("error") if isinstance(parsed, dict) else None
        return _classify(status, error if isinstance(error, dict) else {}, headers, context)


@dataclass(slots=True)
class _Candidate:
    """One candidate's reply, read part by part from whole responses or stream events."""

    reasoning: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    native_finish: str | None = None

    def read(self, raw: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Take in one candidate object and yield a chunk delta for each part it adds."""
        for part in (raw.get("content") or {}).get("parts") or ():
            delta = self._part(part)
            if delta:
                yield delta
        if raw.get("finishReason"):
            self.native_finish = str(raw["finishReason"])

    def _part(self, part: Mapping[str, Any]) -> dict[str, Any] | None:
        if part.get("thought"):
            # Thought summaries are reasoning, never content; thought images are dropped.
            if part.get("text"):
                self.reasoning.append(part["text"])
                return {REASONING_CONTENT: part["text"]}
            return None
        if "functionCall" in part:
            call = _tool_call(part, len(self.tool_calls))
            self.tool_calls.append({key: value for key, value in call.items() if key != "index"})
            return {"tool_calls": [call]}
        if "inlineData" in part:
            inline = part["inlineData"]
            image = {"type": "image_url", "image_url": {"url": f"data:{inline['mimeType']};base64,{inline['data']}"}}
            self.images.append(image)
            return {IMAGES: [image]}
        if part.get("text"):
            # NOTE: a thought signature on a text part is dropped; Gemini
            # requires signatures back only on function calls.
            self.texts.append(part["text"])
            return {"content": part["text"]}
        return None

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.texts) or None}
        if self.reasoning:
            message[REASONING_CONTENT] = "".join(self.reasoning)
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        if self.images:
            message[IMAGES] = self.images
        return message

    def finish_reason(self) -> str:
        # Gemini reports STOP after function calls too, where OpenAI uses `tool_calls`.
        reason = self.native_finish or "STOP"
        if reason in _FILTER_REASONS:
            return "content_filter"
        if reason == "STOP" and self.tool_calls:
            return "tool_calls"
        return _STOP_REASONS.get(reason, "stop")


def _candidates(reply: Mapping[str, Any]) -> list[dict[str, Any]]:
    candidates = reply.get("candidates")
    if candidates:
        return list(candidates)
    if (reply.get("promptFeedback") or {}).get("blockReason"):
        # The prompt itself was blocked, so no candidate exists.
        return [{"index": 0, "finishReason": "PROHIBITED_CONTENT"}]
    return []


def _tool_call(part: Mapping[str, Any], index: int) -> dict[str, Any]:
    function = part["functionCall"]
    call: dict[str, Any] = {
        "index": index,
        "id": function.get("id") or new_tool_call_id(),
        "type": "function",
        "function": {"name": function.get("name", ""), "arguments": orjson.dumps(function.get("args") or {}).decode()},
    }
    if part.get("thoughtSignature"):
        call[TOOL_CALL_EXTRA] = {"google": {"thought_signature": part["thoughtSignature"]}}
    return call


def _contents(messages: list[dict[str, Any]], provider: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Split OpenAI messages into Gemini's system instruction texts and `user` / `model` contents."""
    names_by_call = {
        call["id"]: call["function"]["name"]
        for message in messages
        if message["role"] == "assistant"
        for call in message.get("tool_calls") or ()
    }
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        role = message["role"]
        param = f"messages[{index}]"
        if role in ("system", "developer"):
            system.append(text_of(message.get("content"), f"{param}.content", provider))
        elif role == "user":
            _append(contents, "user", _user_parts(message.get("content"), f"{param}.content", provider))
        elif role == "assistant":
            _append(contents, "model", _model_parts(message, param))
        elif role == "tool":
            _append(contents, "user", [_function_response(message, names_by_call, param, provider)])
        else:
            raise RequestRejected(
                f"Provider `{provider}` does not take `{role}` messages; use `tool` messages for tool results.",
                code="unsupported_parameter",
                param=f"{param}.role",
            )
    return system, contents


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _user_parts(content: Any, param: str, provider: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content or ()):
        kind = part.get("type")
        part_param = f"{param}[{index}]"
        if kind == "text":
            parts.append({"text": part["text"]})
        elif kind == "image_url":
            media = image_media(part, f"{part_param}.image_url.url")
            if media is None:
                raise RequestRejected(
                    f"The image at `{part_param}.image_url.url` was not fetched.", param=f"{part_param}.image_url.url"
                )
            parts.append(_inline(media))
        elif kind == "file":
            parts.append(_inline(file_media(part, part_param, provider)))
        elif kind == "input_audio":
            parts.append(_inline(audio_media(part)))
        else:
            raise RequestRejected(
                f"Provider `{provider}` does not take `{kind}` content parts.",
                code="unsupported_parameter",
                param=part_param,
            )
    return parts


def _inline(media: Media) -> dict[str, Any]:
    return {"inlineData": {"mimeType": media.media_type, "data": media.data}}


def _model_parts(message: Mapping[str, Any], param: str) -> list[dict[str, Any]]:
    # Thought summaries are not sent back; signatures on function calls are.
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if isinstance(content, str) and content:
        parts.append({"text": content})
    elif isinstance(content, list):
        parts.extend({"text": part["text"]} for part in content if part.get("type") == "text")
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call["function"]
        arguments = tool_arguments(function.get("arguments", ""), f"{param}.tool_calls[{index}].function.arguments")
        function_call: dict[str, Any] = {"name": function["name"], "args": arguments}
        if not call["id"].startswith(_MADE_UP_ID_PREFIX):
            function_call["id"] = call["id"]
        part: dict[str, Any] = {"functionCall": function_call}
        signature = _thought_signature(call.get(TOOL_CALL_EXTRA))
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _function_response(
    message: Mapping[str, Any], names_by_call: Mapping[str, str], param: str, provider: str
) -> dict[str, Any]:
    call_id = message["tool_call_id"]
    name = names_by_call.get(call_id)
    if name is None:
        raise RequestRejected(
            f"`{param}.tool_call_id` names the call `{call_id}`, which no earlier assistant message made; "
            f"provider `{provider}` needs the function name of every tool result.",
            param=f"{param}.tool_call_id",
        )
    text = text_of(message.get("content"), f"{param}.content", provider)
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    response: dict[str, Any] = {"name": name, "response": parsed if isinstance(parsed, dict) else {"result": text}}
    if not call_id.startswith(_MADE_UP_ID_PREFIX):
        response["id"] = call_id
    return {"functionResponse": response}


def _tools(payload: dict[str, Any], body: Mapping[str, Any], provider: str) -> None:
    tools = body.get("tools")
    if tools:
        declarations = []
        for index, tool in enumerate(tools):
            if tool.get("type") != "function":
                raise RequestRejected(
                    f"Provider `{provider}` takes `function` tools only.",
                    code="unsupported_parameter",
                    param=f"tools[{index}].type",
                )
            function = tool["function"]
            declaration: dict[str, Any] = {"name": function["name"]}
            if function.get("description"):
                declaration["description"] = function["description"]
            if function.get("parameters"):
                declaration["parametersJsonSchema"] = function["parameters"]
            declarations.append(declaration)
        payload["tools"] = [{"functionDeclarations": declarations}]

    choice = body.get("tool_choice")
    if choice is None:
        return
    if isinstance(choice, str):
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(choice, "AUTO")
        payload["toolConfig"] = {"functionCallingConfig": {"mode": mode}}
    else:
        payload["toolConfig"] = {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
        }


def _generation_config(body: Mapping[str, Any], context: CallContext, provider: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    renames = {
        "temperature": "temperature",
        "top_p": "topP",
        "top_k": "topK",
        "n": "candidateCount",
        "seed": "seed",
        "presence_penalty": "presencePenalty",
        "frequency_penalty": "frequencyPenalty",
    }
    for ours, theirs in renames.items():
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    if max_tokens:
        config["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)

    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_object":
        config["responseMimeType"] = "application/json"
    elif response_format.get("type") == "json_schema":
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}

    thinking = _thinking_config(context)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def _thinking_config(context: CallContext) -> dict[str, Any] | None:
    plan = context.plan
    spec = context.entry.reasoning
    if plan is None or spec is None:
        return None
    if spec.style == "gemini_level":
        # `thinkingLevel` and `thinkingBudget` are mutually exclusive; level models take only the level.
        config: dict[str, Any] = {"includeThoughts": plan.enabled and plan.visible}
        if plan.effort is not None:
            config["thinkingLevel"] = _LEVELS[plan.effort]
        return config
    if not plan.enabled:
        return {"thinkingBudget": 0}
    # -1 lets the model choose its budget.
    budget = plan.budget_tokens if plan.budget_tokens is not None else -1
    return {"thinkingBudget": budget, "includeThoughts": plan.visible}


def _usage(meta: Mapping[str, Any]) -> TokenUsage:
    """Gemini counts thoughts apart from candidates; OpenAI's completion tokens include them."""
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    completion_tokens = int(meta.get("candidatesTokenCount") or 0) + thoughts
    return TokenUsage(
        prompt_tokens=prompt,
        completion_tokens=completion_tokens,
        total_tokens=prompt + completion_tokens,
        cached_tokens=int(meta.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
        audio_input_tokens=_modality_tokens(meta.get("promptTokensDetails"), "AUDIO"),
        audio_output_tokens=_modality_tokens(meta.get("candidatesTokensDetails"), "AUDIO"),
    )


def _modality_tokens(details: Any, modality: str) -> int:
    return sum(int(item.get("tokenCount") or 0) for item in details or () if item.get("modality") == modality)


def _classify(
    status: int, error: Mapping[str, Any], headers: Mapping[str, str] | None, context: CallContext
) -> UpstreamFailed:
    details = [item for item in error.get("details") or () if isinstance(item, dict)]
    # An invalid key is a 400 whose details carry the reason `API_KEY_INVALID`.
    code = (
        "API_KEY_INVALID" if any(item.get("reason") == "API_KEY_INVALID" for item in details) else error.get("status")
    )
    # Gemini gives its retry hint as a `google.rpc.RetryInfo` detail ("1s"), not as a header.
    delay = next((item.get("retryDelay") for item in details if str(item.get("@type", "")).endswith("RetryInfo")), None)
    if isinstance(delay, str) and not (headers and "retry-after" in headers):
        headers = {**(headers or {}), "retry-after": delay.removesuffix("s")}
    if isinstance(error.get("code"), int):
        status = error["code"]
    return classify_status(
        provider=context.route.spec.name,
        credential_advice=context.route.spec.credential_advice,
        status=status,
        upstream_message=error.get("message"),
        upstream_code=code,
        headers=headers,
    )


def _thought_signature(extra: Any) -> Any:
    """Return `extra_content.google.thought_signature` of a tool call, or None where the client sent another shape."""
    google = extra.get("google") if isinstance(extra, dict) else None
    return google.get("thought_signature") if isinstance(google, dict) else None
