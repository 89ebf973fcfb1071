"""The native adapters' stream and reply translation, fed the providers' documented event sequences."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from gateway_contracts import CatalogEntry, ReasoningPlan, ReasoningSpec, TokenUsage
from gateway_router.adapters import ADAPTERS
from gateway_router.adapters.base import CallContext
from gateway_router.errors import RequestRejected, UpstreamFailed
from gateway_router.providers import resolve_routes

ROUTES = resolve_routes({"ANTHROPIC_API_KEY": "k", "GEMINI_API_KEY": "g", "OPENROUTER_API_KEY": "o"}, None)
CLAUDE = CatalogEntry(
    id="anthropic/claude-sonnet-4",
    provider="anthropic",
    upstream_name="claude-sonnet-4-20250514",
    capabilities=["text", "reasoning"],
    reasoning=ReasoningSpec(style="anthropic_budget", min_budget_tokens=1024),
    max_output_tokens=64000,
)
GEMINI = CatalogEntry(id="google/gemini-2.5-flash", provider="google", upstream_name="gemini-2.5-flash")


def context(entry: CatalogEntry, stream: bool = True, plan: ReasoningPlan | None = None) -> CallContext:
    return CallContext(entry=entry, route=ROUTES[entry.provider], stream=stream, plan=plan)


async def lines(*events: dict) -> AsyncIterator[bytes]:
    for event in events:
        yield orjson.dumps(event)


async def collect(adapter_name: str, ctx: CallContext, *events: dict) -> list[dict]:
    return [piece.chunk async for piece in ADAPTERS[adapter_name].parse_stream(lines(*events), ctx)]


def deltas(chunks: list[dict]) -> list[dict]:
    return [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]


ANTHROPIC_TOOL_STREAM = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_01Q",
            "model": "claude-sonnet-4-5",
            "content": [],
            "usage": {"input_tokens": 412, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 2048},
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Need live data; "}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "call the tool."}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqwB"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Checking."}},
    {"type": "content_block_stop", "index": 1},
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}},
    },
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"city": "Os'}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": 'lo"}'}},
    {"type": "content_block_stop", "index": 2},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use"},
        "usage": {"output_tokens": 96, "output_tokens_details": {"thinking_tokens": 40}},
    },
    {"type": "message_stop"},
]


async def test_anthropic_stream_becomes_openai_chunks() -> None:
    chunks = await collect("anthropic", context(CLAUDE), *ANTHROPIC_TOOL_STREAM)

    assert deltas(chunks) == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Need live data; "},
        {"reasoning_content": "call the tool."},
        {"thinking_blocks": [{"type": "thinking", "thinking": "Need live data; call the tool.", "signature": "EqwB"}]},
        {"content": "Checking."},
        # The tool call is OpenAI's index 0, although it is Anthropic's block 2.
        {
            "tool_calls": [
                {"index": 0, "id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Os'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'lo"}'}}]},
        {},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 412 + 5 + 2048
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {
        "cached_tokens": 2048,
        "cache_write_tokens": 5,
        "audio_tokens": 0,
    }
    assert chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == 40
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-msg_01Q"}


async def test_anthropic_error_event_is_overload() -> None:
    events = [
        *ANTHROPIC_TOOL_STREAM[:3],
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ]

    with pytest.raises(UpstreamFailed) as caught:
        await collect("anthropic", context(CLAUDE), *events)

    assert caught.value.code == "upstream_overloaded"
    assert caught.value.retryable


async def test_anthropic_stream_cut_before_message_stop_fails() -> None:
    with pytest.raises(UpstreamFailed) as caught:
        await collect("anthropic", context(CLAUDE), *ANTHROPIC_TOOL_STREAM[:8])

    assert caught.value.code == "upstream_error"


def test_anthropic_reply_keeps_signatures_and_redacted_data() -> None:
    reply = {
        "id": "msg_1",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Hi"},
        ],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }

    parsed = ADAPTERS["anthropic"].parse_response(orjson.dumps(reply), context(CLAUDE, stream=False))

    assert parsed.message == {
        "role": "assistant",
        "content": "Hi",
        "reasoning_content": "Hmm.",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
            {"type": "redacted_thinking", "data": "opaque"},
        ],
    }
    assert orjson.loads(parsed.body)["choices"][0]["finish_reason"] == "length"
    assert parsed.usage == TokenUsage(prompt_tokens=3, completion_tokens=4, total_tokens=7)


def test_anthropic_request_merges_tool_results_and_lifts_system() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                    {"id": "t2", "type": "function", "function": {"name": "b", "arguments": '{"x": 1}'}},
                ],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "one"},
            {"role": "tool", "tool_call_id": "t2", "content": "two"},
            {"role": "user", "content": "Thanks"},
        ],
        "tool_choice": "auto",
    }

    request = ADAPTERS["anthropic"].build_request(body, context(CLAUDE, stream=False))

    payload = orjson.loads(request.body)
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "k"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert payload["system"] == [{"type": "text", "text": "Be brief."}]
    assert payload["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "one"},
            {"type": "tool_result", "tool_use_id": "t2", "content": "two"},
            {"type": "text", "text": "Thanks"},
        ],
    }
    assert payload["tool_choice"] == {"type": "auto"}
    assert payload["max_tokens"] == 4096


def test_anthropic_rejects_arguments_that_are_not_an_object() -> None:
    body = {
        "messages": [
            {
                "role": "assistant",
                "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "a", "arguments": "[1]"}}],
            }
        ]
    }

    with pytest.raises(RequestRejected) as caught:
        ADAPTERS["anthropic"].build_request(body, context(CLAUDE, stream=False))

    assert caught.value.param == "messages[0].tool_calls[0].function.arguments"


@pytest.mark.parametrize(
    ("blocks", "param"),
    [
        ("notalist", "messages[0].thinking_blocks"),
        ({"type": "thinking"}, "messages[0].thinking_blocks"),
        ([1], "messages[0].thinking_blocks[0]"),
        ([{"type": "unknown"}], "messages[0].thinking_blocks[0]"),
    ],
)
def test_anthropic_rejects_malformed_thinking_blocks(blocks: object, param: str) -> None:
    body = {"messages": [{"role": "assistant", "content": "x", "thinking_blocks": blocks}]}

    with pytest.raises(RequestRejected) as caught:
        ADAPTERS["anthropic"].build_request(body, context(CLAUDE, stream=False))

    assert caught.value.param == param


GEMINI_STREAM = [
    {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "Units first.", "thought": True}]}, "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 40, "totalTokenCount": 40},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1",
    },
    {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "17 × 23 = "}]}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 6, "thoughtsTokenCount": 80},
    },
    {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"functionCall": {"name": "calc", "args": {"x": 17}}, "thoughtSignature": "Cq8B"}],
                },
                "index": 0,
            }
        ]
    },
    {
        "candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": 40,
            "cachedContentTokenCount": 8,
            "candidatesTokenCount": 15,
            "thoughtsTokenCount": 80,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 30}, {"modality": "AUDIO", "tokenCount": 10}],
        },
    },
]


async def test_gemini_stream_becomes_openai_chunks() -> None:
    chunks = await collect("gemini", context(GEMINI), *GEMINI_STREAM)

    found = deltas(chunks)
    call = found[3]["tool_calls"][0]
    assert found[:3] == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Units first."},
        {"content": "17 × 23 = "},
    ]
    assert call["index"] == 0
    assert call["id"].startswith("call_")
    assert call["function"] == {"name": "calc", "arguments": '{"x":17}'}
    assert call["extra_content"] == {"google": {"thought_signature": "Cq8B"}}
    # Gemini says STOP after a function call; OpenAI says tool_calls.
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    usage = chunks[-1]["usage"]
    assert usage["prompt_tokens"] == 40
    assert usage["completion_tokens"] == 95
    assert usage["prompt_tokens_details"]["cached_tokens"] == 8
    assert usage["prompt_tokens_details"]["audio_tokens"] == 10
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 80


async def test_gemini_stream_without_finish_reason_fails() -> None:
    with pytest.raises(UpstreamFailed):
        await collect("gemini", context(GEMINI), *GEMINI_STREAM[:2])


async def test_gemini_error_event_keeps_its_status() -> None:
    error = {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}

    with pytest.raises(UpstreamFailed) as caught:
        await collect("gemini", context(GEMINI), GEMINI_STREAM[0], error)

    assert caught.value.code == "rate_limited"


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"), ("OTHER", "stop")],
)
def test_gemini_finish_reasons(reason: str, finish: str) -> None:
    reply = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason, "index": 0}]}

    parsed = ADAPTERS["gemini"].parse_response(orjson.dumps(reply), context(GEMINI, stream=False))

    assert orjson.loads(parsed.body)["choices"][0]["finish_reason"] == finish


def test_gemini_blocked_prompt_is_content_filter() -> None:
    reply = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}

    parsed = ADAPTERS["gemini"].parse_response(orjson.dumps(reply), context(GEMINI, stream=False))

    choice = orjson.loads(parsed.body)["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["content"] is None


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            400,
            {
                "error": {
                    "code": 400,
                    "status": "INVALID_ARGUMENT",
                    "message": "API key not valid.",
                    "details": [{"reason": "API_KEY_INVALID"}],
                }
            },
            "upstream_auth_failed",
        ),
        (429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota"}}, "rate_limited"),
        (503, {"error": {"code": 503, "status": "UNAVAILABLE", "message": "overloaded"}}, "upstream_overloaded"),
        (
            400,
            {
                "error": {
                    "code": 400,
                    "status": "INVALID_ARGUMENT",
                    "message": "The input token count (9) exceeds the maximum",
                }
            },
            "context_length_exceeded",
        ),
    ],
)
def test_gemini_errors(status: int, body: dict, code: str) -> None:
    error = ADAPTERS["gemini"].classify_error(status, orjson.dumps(body), {}, context(GEMINI))

    assert error.code == code


def test_gemini_retry_info_becomes_retry_after() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "quota",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}],
        }
    }

    error = ADAPTERS["gemini"].classify_error(429, orjson.dumps(body), {}, context(GEMINI))

    assert error.retry_after == 7.0


@pytest.mark.parametrize(
    ("status", "error_type", "code", "client_status"),
    [
        (400, "invalid_request_error", "invalid_request", 400),
        (401, "authentication_error", "upstream_auth_failed", 502),
        (403, "permission_error", "upstream_auth_failed", 502),
        (404, "not_found_error", "upstream_error", 502),
        (413, "request_too_large", "payload_too_large", 413),
        (429, "rate_limit_error", "rate_limited", 429),
        (500, "api_error", "upstream_error", 502),
        (504, "timeout_error", "upstream_timeout", 504),
        (529, "overloaded_error", "upstream_overloaded", 503),
    ],
)
def test_anthropic_errors(status: int, error_type: str, code: str, client_status: int) -> None:
    body = orjson.dumps({"type": "error", "error": {"type": error_type, "message": "m"}})

    error = ADAPTERS["anthropic"].classify_error(status, body, {}, context(CLAUDE))

    assert error.code == code
    assert error.status == client_status


def test_anthropic_json_schema_becomes_output_format() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}},
    }

    request = ADAPTERS["anthropic"].build_request(body, context(CLAUDE, stream=False))

    assert orjson.loads(request.body)["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
