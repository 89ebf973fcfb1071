"""Google's Gemini API: `POST /google/v1beta/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`.

It answers with thought parts when `includeThoughts` is set, signs function
calls with `thoughtSignature`, sends image parts as `inlineData`, and reports
usage as running totals in every stream event. Thinking follows the model
generation: Gemini 2.5 takes `thinkingBudget` in a per-model range (Flash
0 to 24576, Pro 128 to 32768 and never off), Gemini 3 takes `thinkingLevel`
and always thinks, and setting both fields is an error. Gemini 3 rejects a
function call of the current turn sent back without its signature, and
every model rejects a signature it did not issue.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import orjson
from aiohttp import web

from provider_emulator.directives import Directives, parse_directives
from provider_emulator.events import ClientGone, EventStream
from provider_emulator.failures import FailurePlan
from provider_emulator.recorder import Recorder
from provider_emulator.scenario import IMAGE_PNG_BASE64, Conversation, Scenario, build_scenario, sign

EMULATOR_KEY = "emulator"

_ERRORS: dict[int, tuple[int, str, str]] = {
    400: (
        400,
        "INVALID_ARGUMENT",
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
    ),
    403: (403, "PERMISSION_DENIED", "The caller does not have permission"),
    429: (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: (
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: (504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}
# Thinking budgets each Gemini 2.5 model accepts, besides -1 (dynamic).
_BUDGET_RANGES = {
    "gemini-2.5-flash-lite": (512, 24576, True),
    "gemini-2.5-flash": (1, 24576, True),
    "gemini-2.5-pro": (128, 32768, False),
}
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}


def error_response(
    status: int, message: str | None = None, details: list[dict[str, Any]] | None = None
) -> web.Response:
    if status == 401:
        # Gemini rejects an invalid key with 400 and the reason in the details.
        return error_response(
            400,
            "API key not valid. Please pass a valid API key.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ],
        )
    code, rpc_status, default = _ERRORS.get(status, _ERRORS[500])
    error: dict[str, Any] = {"code": code, "message": message or default, "status": rpc_status}
    if details is None and status == 429:
        details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]
    if details:
        error["details"] = details
    return web.Response(status=code, body=orjson.dumps({"error": error}), content_type="application/json")


def _error_info(reason: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}


def _invalid(message: str) -> web.Response:
    return error_response(400, message)


class GenerateContent:
    def __init__(self, recorder: Recorder, failures: FailurePlan) -> None:
        self._recorder = recorder
        self._failures = failures

    async def handle(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].partition(":")
        if method not in ("generateContent", "streamGenerateContent"):
            return error_response(404, f"Method `{method}` is not found.")
        try:
            payload = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _invalid("Invalid JSON payload received.")
        seq = self._recorder.record_request(request.path_qs, dict(request.headers), payload)

        if request.headers.get("x-goog-api-key") != EMULATOR_KEY:
            return error_response(401)
        contents = payload.get("contents") or []
        texts = [_content_text(content) for content in contents]
        system = payload.get("systemInstruction")
        if system:
            texts.append(_content_text(system))
        directives = parse_directives(texts)
        if directives.first_delay_ms:
            await asyncio.sleep(directives.first_delay_ms / 1000)
        if directives.error is not None:
            status = self._failures.status(directives, model, request.path + "\n".join(texts))
            if status is not None:
                return error_response(status)

        config = payload.get("generationConfig") or {}
        thinking, problem = _thinking(model, config.get("thinkingConfig") or {})
        problem = problem or _validate_contents(model, contents)
        if problem is not None:
            return _invalid(problem)
        thinks, shows = thinking
        scenario = build_scenario(
            _conversation(model, contents, texts),
            directives,
            thinks=thinks,
            shows_thoughts=shows,
            max_tokens=config.get("maxOutputTokens"),
            call_id="",
        )
        reply = _Reply(model, scenario, directives)
        if method == "streamGenerateContent":
            if request.query.get("alt") != "sse":
                return _invalid("The emulator streams only with `alt=sse`.")
            return await self._stream(request, reply, seq)
        return web.Response(body=orjson.dumps(reply.response()), content_type="application/json")

    async def _stream(self, request: web.Request, reply: _Reply, seq: int) -> web.StreamResponse:
        stream = EventStream(request, reply.directives, self._recorder, seq)
        await stream.prepare()
        try:
            for event in reply.events():
                await stream.write(b"data: " + orjson.dumps(event) + b"\n\n")
                if "error" in event:
                    return stream.response
            await stream.close()
        except (ConnectionError, ClientGone):
            stream.gone()
        return stream.response


def _thinking(model: str, config: dict[str, Any]) -> tuple[tuple[bool, bool], str | None]:
    """Whether the model thinks and shows its thoughts, or the 400 message for an invalid config."""
    shows = config.get("includeThoughts") is True
    if "thinkingBudget" in config and "thinkingLevel" in config:
        return (False, False), "You can only set one of thinking budget and thinking level."
    if "-image" in model:
        return (False, False), ("Thinking is not supported for this model." if config else None)
    if model.startswith("gemini-3"):
        return (True, shows), None
    if "thinkingLevel" in config:
        return (False, False), "Thinking level is not supported for this model."
    low, high, can_disable = next(
        (limits for prefix, limits in _BUDGET_RANGES.items() if model.startswith(prefix)), (1, 24576, True)
    )
    budget = config.get("thinkingBudget", -1)
    if budget == 0 and can_disable:
        return (False, False), None
    if budget != -1 and not low <= budget <= high:
        return (False, False), (
            f"The thinking budget {budget} is invalid. Please choose a value between {low} and {high}."
        )
    return (True, shows), None


def _validate_contents(model: str, contents: list[dict[str, Any]]) -> str | None:
    called: set[str] = set()
    current_turn = _current_turn_start(contents)
    for index, content in enumerate(contents):
        if content.get("role", "user") not in ("user", "model"):
            return f"Please use a valid role: user, model. (contents[{index}].role)"
        first_call = True
        for position, part in enumerate(content.get("parts") or ()):
            if "functionCall" in part:
                call = part["functionCall"]
                called.add(call.get("name", ""))
                signature = part.get("thoughtSignature")
                if signature is not None and signature != _call_signature(call):
                    return f"Thought signature is not valid (contents[{index}].parts[{position}])."
                strict = model.startswith("gemini-3") and index >= current_turn
                if strict and first_call and signature is None:
                    return (
                        "Function call is missing a thought_signature in functionCall parts. This is required "
                        f"for tools to work correctly, and missing thought_signature may lead to degraded model "
                        f"performance. Additional data, function call `{call.get('name')}` , position {index + 1}."
                    )
                first_call = False
            if "functionResponse" in part and part["functionResponse"].get("name") not in called:
                return f"contents[{index}].parts[{position}].function_response.name does not match any function call."
    return None


def _current_turn_start(contents: list[dict[str, Any]]) -> int:
    """Index of the last user content with text: function calls after it belong to the current turn."""
    for index in range(len(contents) - 1, -1, -1):
        content = contents[index]
        if content.get("role", "user") == "user" and any("text" in part for part in content.get("parts") or ()):
            return index
    return 0


def _call_signature(call: dict[str, Any]) -> str:
    return sign(call.get("name", "") + orjson.dumps(call.get("args") or {}, option=orjson.OPT_SORT_KEYS).decode())


def _content_text(content: dict[str, Any]) -> str:
    texts = []
    for part in content.get("parts") or ():
        if "text" in part:
            texts.append(str(part["text"]))
        elif "functionResponse" in part:
            texts.append(_response_text(part["functionResponse"].get("response")))
    return "\n".join(texts)


def _response_text(response: Any) -> str:
    if isinstance(response, dict) and isinstance(response.get("result"), str):
        return response["result"]
    return orjson.dumps(response).decode()


def _conversation(model: str, contents: list[dict[str, Any]], texts: list[str]) -> Conversation:
    last_parts = (contents[-1].get("parts") or []) if contents else []
    responses = [part["functionResponse"] for part in last_parts if "functionResponse" in part]
    user_texts = [
        "\n".join(str(part["text"]) for part in content.get("parts") or () if "text" in part)
        for content in contents
        if content.get("role", "user") == "user"
    ]
    audio = sum(
        1
        for content in contents
        for part in content.get("parts") or ()
        if str((part.get("inlineData") or {}).get("mimeType", "")).startswith("audio/")
    )
    return Conversation(
        model=model,
        texts=texts,
        last_user_text=next((text for text in reversed(user_texts) if text), ""),
        tool_result=_response_text(responses[-1].get("response")) if responses else None,
        audio_parts=audio,
    )


class _Reply:
    def __init__(self, model: str, scenario: Scenario, directives: Directives) -> None:
        self.model = model
        self.scenario = scenario
        self.directives = directives
        self.id = secrets.token_urlsafe(16)

    def usage(self, final: bool = True) -> dict[str, Any]:
        scenario = self.scenario
        usage: dict[str, Any] = {"promptTokenCount": scenario.prompt_tokens}
        details = [{"modality": "TEXT", "tokenCount": scenario.prompt_tokens - scenario.audio_tokens}]
        if scenario.audio_tokens:
            details.append({"modality": "AUDIO", "tokenCount": scenario.audio_tokens})
        usage["promptTokensDetails"] = details
        if scenario.cached_tokens:
            usage["cachedContentTokenCount"] = scenario.cached_tokens
        total = scenario.prompt_tokens
        if final:
            candidates = scenario.completion_tokens - scenario.reasoning_tokens
            usage["candidatesTokenCount"] = candidates
            total += candidates
        if scenario.reasoning_tokens:
            usage["thoughtsTokenCount"] = scenario.reasoning_tokens
            total += scenario.reasoning_tokens
        usage["totalTokenCount"] = total
        return usage

    def parts(self) -> list[dict[str, Any]]:
        scenario = self.scenario
        parts: list[dict[str, Any]] = []
        if scenario.reasoning:
            parts.append({"text": scenario.reasoning_text, "thought": True})
        if scenario.answer:
            parts.append({"text": scenario.answer_text})
        if scenario.image:
            parts.append(_image_part())
        if scenario.tool:
            parts.append(self._call_part())
        return parts

    def response(self) -> dict[str, Any]:
        candidate = {
            "content": {"role": "model", "parts": self.parts()},
            "finishReason": _FINISH[self.scenario.finish],
            "index": 0,
        }
        return self._envelope(candidate, self.usage())

    def events(self) -> list[dict[str, Any]]:
        scenario = self.scenario
        events = [
            self._envelope(self._candidate([{"text": piece, "thought": True}]), self.usage(final=False))
            for piece in scenario.reasoning
        ]
        for position, piece in enumerate(scenario.answer):
            if position == self.directives.error_after:
                code, status, message = _ERRORS[500]
                events.append({"error": {"code": code, "message": message, "status": status}})
                return events
            events.append(self._envelope(self._candidate([{"text": piece}]), self.usage(final=False)))
            if position == 0 and scenario.image:
                events.append(self._envelope(self._candidate([_image_part()]), self.usage(final=False)))
        if scenario.image and not scenario.answer:
            events.append(self._envelope(self._candidate([_image_part()]), self.usage(final=False)))
        if scenario.tool:
            events.append(self._envelope(self._candidate([self._call_part()]), self.usage(final=False)))
        final = {**self._candidate([{"text": ""}]), "finishReason": _FINISH[scenario.finish]}
        events.append(self._envelope(final, self.usage()))
        return events

    def _call_part(self) -> dict[str, Any]:
        tool = self.scenario.tool
        assert tool is not None
        call = {"name": tool.name, "args": tool.arguments}
        return {"functionCall": call, "thoughtSignature": _call_signature(call)}

    @staticmethod
    def _candidate(parts: list[dict[str, Any]]) -> dict[str, Any]:
        return {"content": {"role": "model", "parts": parts}, "index": 0}

    def _envelope(self, candidate: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
        return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": self.model, "responseId": self.id}


def _image_part() -> dict[str, Any]:
    return {"inlineData": {"mimeType": "image/png", "data": IMAGE_PNG_BASE64}}
