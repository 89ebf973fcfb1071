"""The OpenAI-compatible adapter: request building, usage reading, stream parsing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from gateway_contracts import CatalogEntry, ReasoningPlan, ReasoningSpec, TokenUsage
from gateway_router.accumulator import ReplyAccumulator
from gateway_router.adapters import ADAPTERS
from gateway_router.adapters.base import CallContext
from gateway_router.adapters.dialects import apply_reasoning
from gateway_router.adapters.openai import OpenAIAdapter, usage_from_openai
from gateway_router.errors import UpstreamFailed
from gateway_router.providers import resolve_routes

ENTRY = CatalogEntry(id="openai/gpt-4o-mini", provider="openai", upstream_name="gpt-4o-mini")


def context(stream: bool, environ: dict[str, str] | None = None) -> CallContext:
    routes = resolve_routes(environ or {"OPENAI_API_KEY": "sk-test"}, None)
    return CallContext(entry=ENTRY, route=routes["openai"], stream=stream)


def test_request_maps_model_and_drops_gateway_fields() -> None:
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "session_id": "s1"}

    request = OpenAIAdapter().build_request(body, context(stream=False))

    assert request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert orjson.loads(request.body) == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def test_streaming_request_always_asks_for_usage() -> None:
    body = {"model": "openai/gpt-4o-mini", "messages": [], "stream": True}

    request = OpenAIAdapter().build_request(body, context(stream=True))

    assert orjson.loads(request.body)["stream_options"] == {"include_usage": True}


def test_base_url_override_is_used() -> None:
    ctx = context(stream=False, environ={"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "https://proxy.example/v1/"})

    request = OpenAIAdapter().build_request({"messages": []}, ctx)

    assert request.url == "https://proxy.example/v1/chat/completions"


def test_usage_reads_every_detail_field() -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 40, "cache_write_tokens": 10, "audio_tokens": 5},
            "completion_tokens_details": {"reasoning_tokens": 30, "audio_tokens": 2},
        }
    )

    assert usage == TokenUsage(
        prompt_tokens=100,
        completion_tokens=50,
        total_tokens=150,
        cached_tokens=40,
        cache_write_tokens=10,
        reasoning_tokens=30,
        audio_input_tokens=5,
        audio_output_tokens=2,
    )


def test_usage_reads_deepseek_cache_hits() -> None:
    usage = usage_from_openai({"prompt_tokens": 10, "completion_tokens": 1, "prompt_cache_hit_tokens": 8})

    assert usage.cached_tokens == 8
    assert usage.total_tokens == 11


async def lines(*payloads: bytes) -> AsyncIterator[bytes]:
    for payload in payloads:
        yield payload


async def test_stream_yields_chunks_then_stops_at_done() -> None:
    chunk = b'{"choices":[{"index":0,"delta":{"content":"h\xc3\xa9"},"finish_reason":null}]}'
    usage = b'{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}'

    pieces = [
        piece
        async for piece in OpenAIAdapter().parse_stream(lines(chunk, usage, b"[DONE]", chunk), context(stream=True))
    ]

    assert [piece.payload for piece in pieces] == [chunk, usage]
    assert pieces[0].usage is None
    assert pieces[1].usage == TokenUsage(prompt_tokens=3, completion_tokens=1, total_tokens=4)


async def test_stream_error_event_raises() -> None:
    with pytest.raises(UpstreamFailed):
        async for _piece in OpenAIAdapter().parse_stream(
            lines(b'{"error":{"message":"overloaded"}}'), context(stream=True)
        ):
            pass


def test_accumulator_rebuilds_message_with_tool_calls() -> None:
    reply = ReplyAccumulator()
    for delta in (
        {"role": "assistant", "content": ""},
        {"reasoning_content": "think "},
        {"content": "Hel"},
        {"content": "lo"},
        {
            "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]},
    ):
        reply.add({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    reply.add({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    reply.add({"choices": [{"index": 1, "delta": {"content": "other choice"}}]})

    assert reply.message() == {
        "role": "assistant",
        "content": "Hello",
        "reasoning_content": "think ",
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get", "arguments": '{"a":1}'}}],
    }
    assert reply.finish_reason == "tool_calls"


def compat_context(provider: str, stream: bool = True) -> CallContext:
    routes = resolve_routes({}, "http://127.0.0.1:9")
    entry = CatalogEntry(id=f"{provider}/m", provider=provider, upstream_name="m")
    return CallContext(entry=entry, route=routes[provider], stream=stream)


async def test_openai_chunks_pass_through_as_bytes() -> None:
    chunk = b'{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}'

    [piece] = [piece async for piece in OpenAIAdapter().parse_stream(lines(chunk), context(stream=True))]

    assert piece.payload is chunk


async def test_server_reasoning_field_is_renamed_and_split_before_content() -> None:
    chunk = b'{"choices":[{"index":0,"delta":{"reasoning":"think","content":"say"},"finish_reason":null}]}'

    pieces = [piece async for piece in OpenAIAdapter().parse_stream(lines(chunk), compat_context("ollama"))]

    assert [piece.chunk["choices"][0]["delta"] for piece in pieces] == [
        {"reasoning_content": "think"},
        {"content": "say"},
    ]
    assert [orjson.loads(piece.payload) for piece in pieces] == [piece.chunk for piece in pieces]


def test_reply_reasoning_field_is_renamed() -> None:
    reply = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"a","reasoning":"r"}}],"usage":null}'

    parsed = OpenAIAdapter().parse_response(reply, compat_context("vllm", stream=False))

    assert orjson.loads(parsed.body)["choices"][0]["message"] == {
        "role": "assistant",
        "content": "a",
        "reasoning_content": "r",
    }


def test_openrouter_error_in_a_200_body_is_raised() -> None:
    reply = b'{"error":{"code":429,"message":"Rate limited upstream"}}'

    with pytest.raises(UpstreamFailed) as caught:
        OpenAIAdapter().parse_response(reply, compat_context("openrouter", stream=False))

    assert caught.value.code == "rate_limited"


def test_reasoning_models_get_max_completion_tokens() -> None:
    entry = CatalogEntry(
        id="openai/o4-mini",
        provider="openai",
        upstream_name="o4-mini",
        capabilities=["text", "reasoning"],
        reasoning=ReasoningSpec(style="openai_effort"),
    )
    routes = resolve_routes({"OPENAI_API_KEY": "k"}, None)
    ctx = CallContext(entry=entry, route=routes["openai"], stream=False)

    request = OpenAIAdapter().build_request({"model": "openai/o4-mini", "messages": [], "max_tokens": 50}, ctx)

    assert orjson.loads(request.body) == {"model": "o4-mini", "messages": [], "max_completion_tokens": 50}


def test_deepseek_usage_gets_openai_cache_field() -> None:
    reply = b'{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":1,"prompt_cache_hit_tokens":8}}'

    parsed = ADAPTERS["deepseek"].parse_response(reply, compat_context("deepseek", stream=False))

    assert orjson.loads(parsed.body)["usage"]["prompt_tokens_details"] == {"cached_tokens": 8}


def test_deepseek_cut_off_reply_is_a_retryable_failure() -> None:
    reply = b'{"choices":[{"index":0,"message":{"content":"par"},"finish_reason":"insufficient_system_resource"}]}'

    with pytest.raises(UpstreamFailed) as caught:
        ADAPTERS["deepseek"].parse_response(reply, compat_context("deepseek", stream=False))

    assert caught.value.code == "upstream_overloaded"
    assert caught.value.retryable


@pytest.mark.parametrize(
    ("dialect", "plan", "expected"),
    [
        ("openai", ReasoningPlan(False), {"reasoning_effort": "none"}),
        ("deepseek", ReasoningPlan(True, effort="high"), {"thinking": {"type": "enabled"}, "reasoning_effort": "high"}),
        ("openrouter", ReasoningPlan(True, effort="low", budget_tokens=4096), {"reasoning": {"effort": "low"}}),
        (
            "openrouter",
            ReasoningPlan(True, effort="low", budget_tokens=3000, by_budget=True),
            {"reasoning": {"max_tokens": 3000}},
        ),
        ("qwen", ReasoningPlan(True, budget_tokens=500), {"enable_thinking": True, "thinking_budget": 500}),
        ("ollama", ReasoningPlan(True), {"reasoning_effort": "medium"}),
        ("vllm", ReasoningPlan(False), {"chat_template_kwargs": {"enable_thinking": False, "other": 1}}),
        ("xai", ReasoningPlan(True, effort="high"), {}),
    ],
)
def test_each_dialect_writes_its_switch(dialect: str, plan: ReasoningPlan, expected: dict) -> None:
    payload: dict = {"chat_template_kwargs": {"other": 1}} if dialect == "vllm" else {}

    apply_reasoning(payload, plan, dialect, ENTRY)

    assert payload == expected


def test_accumulator_keeps_what_goes_back_upstream() -> None:
    reply = ReplyAccumulator()
    block = {"type": "thinking", "thinking": "t", "signature": "s"}
    detail = {"type": "reasoning.text", "text": "t"}
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    call = {"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    signature = {"google": {"thought_signature": "g"}}
    for delta in (
        {"thinking_blocks": [block]},
        {"reasoning_details": [detail]},
        {"images": [image]},
        {"tool_calls": [{**call, "extra_content": signature}]},
    ):
        reply.add({"choices": [{"index": 0, "delta": delta}]})

    assert reply.message() == {
        "role": "assistant",
        "content": None,
        "thinking_blocks": [block],
        "reasoning_details": [detail],
        "images": [image],
        "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}, "extra_content": signature}
        ],
    }
