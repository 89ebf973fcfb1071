"""The OpenAI-compatible adapter: request building, usage reading, stream parsing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from gateway_contracts import CatalogEntry, TokenUsage
from gateway_router.accumulator import ReplyAccumulator
from gateway_router.adapters.base import CallContext
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
