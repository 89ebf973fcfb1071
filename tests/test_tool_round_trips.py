"""Tool calls with reasoning across two turns: what each provider needs back comes back, the rest is stripped."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.conftest import RunningStack
from tests.providers import extra, received, received_all, unique
from tests.test_walking_system import _session_has_turns, wait_until

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ARGUMENTS = {"city": "Paris", "unit": "celsius"}
TOOL_RESULT = "Sunny and 21 degrees"
THINKING_ON = {"thinking": {"enabled": True, "budget_tokens": 2048}}


def first_turn(stack: RunningStack, model: str, marker: str, stream: bool = False) -> tuple[str, dict[str, Any]]:
    """Ask for the weather; return the user text and the assistant message as the client would send it back."""
    text = f"Weather in Paris? {marker}\n#emulate tool=get_weather"
    create = stack.client().chat.completions.create
    messages = [{"role": "user", "content": text}]
    if not stream:
        completion = create(model=model, messages=messages, tools=[WEATHER_TOOL], extra_body=THINKING_ON)
        assert completion.choices[0].finish_reason == "tool_calls"
        return text, completion.choices[0].message.model_dump(exclude_none=True)
    return text, assemble(
        list(create(model=model, messages=messages, tools=[WEATHER_TOOL], stream=True, extra_body=THINKING_ON))
    )


def assemble(chunks: list[Any]) -> dict[str, Any]:
    """Rebuild the assistant message from stream chunks, as a client does."""
    message: dict[str, Any] = {"role": "assistant"}
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if extra(delta, "reasoning_content"):
            message["reasoning_content"] = message.get("reasoning_content", "") + extra(delta, "reasoning_content")
        message.setdefault("thinking_blocks", []).extend(extra(delta, "thinking_blocks") or [])
        for call in delta.tool_calls or ():
            current = calls.setdefault(call.index, {"type": "function", "function": {"name": "", "arguments": ""}})
            if call.id:
                current["id"] = call.id
            if call.function and call.function.name:
                current["function"]["name"] = call.function.name
            if call.function and call.function.arguments:
                current["function"]["arguments"] += call.function.arguments
            if extra(call, "extra_content"):
                current["extra_content"] = extra(call, "extra_content")
    if not message["thinking_blocks"]:
        del message["thinking_blocks"]
    message["tool_calls"] = [calls[index] for index in sorted(calls)]
    return message


def second_turn(stack: RunningStack, model: str, text: str, assistant: dict[str, Any]):
    call_id = assistant["tool_calls"][0]["id"]
    return stack.client().chat.completions.create(
        model=model,
        messages=[
            {"role": "user", "content": text},
            assistant,
            {"role": "tool", "tool_call_id": call_id, "content": TOOL_RESULT},
        ],
        tools=[WEATHER_TOOL],
        extra_body=THINKING_ON,
    )


def check_tool_call(assistant: dict[str, Any]) -> dict[str, Any]:
    [call] = assistant["tool_calls"]
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == ARGUMENTS
    return call


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_anthropic_thinking_blocks_round_trip(stack: RunningStack, stream: bool) -> None:
    marker = unique("anthropic-tools")
    text, assistant = first_turn(stack, "anthropic/claude-sonnet-4", marker, stream)

    call = check_tool_call(assistant)
    [block] = assistant["thinking_blocks"]
    assert block["type"] == "thinking"
    assert block["thinking"] == assistant["reasoning_content"]
    assert block["signature"].startswith("EmuSig")

    reply = second_turn(stack, "anthropic/claude-sonnet-4", text, assistant)

    assert reply.choices[0].message.content == f"Based on the tool: {TOOL_RESULT}"
    upstream = received_all(stack, marker)[-1]["body"]
    assert upstream["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": text}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": block["thinking"], "signature": block["signature"]},
                {"type": "tool_use", "id": call["id"], "name": "get_weather", "input": ARGUMENTS},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": TOOL_RESULT}]},
    ]
    assert upstream["tools"] == [
        {
            "name": "get_weather",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
            "description": "Current weather in a city",
        }
    ]


def test_anthropic_redacted_block_round_trips(stack: RunningStack) -> None:
    marker = unique("redacted")
    text = f"Weather? {marker}\n#emulate tool=get_weather redacted=1"
    completion = stack.client().chat.completions.create(
        model="anthropic/claude-sonnet-4",
        messages=[{"role": "user", "content": text}],
        tools=[WEATHER_TOOL],
        extra_body=THINKING_ON,
    )
    assistant = completion.choices[0].message.model_dump(exclude_none=True)
    kinds = [block["type"] for block in assistant["thinking_blocks"]]
    assert kinds == ["thinking", "redacted_thinking"]

    second_turn(stack, "anthropic/claude-sonnet-4", text, assistant)

    replayed = received_all(stack, marker)[-1]["body"]["messages"][1]["content"]
    assert replayed[1] == assistant["thinking_blocks"][1]


def test_anthropic_rejects_tool_turn_without_thinking_block(stack: RunningStack) -> None:
    """Without the blocks, the emulator answers as Anthropic does; the client sees why."""
    marker = unique("anthropic-stripped")
    text, assistant = first_turn(stack, "anthropic/claude-sonnet-4", marker)
    del assistant["thinking_blocks"]

    with pytest.raises(openai.BadRequestError) as caught:
        second_turn(stack, "anthropic/claude-sonnet-4", text, assistant)

    assert caught.value.code == "invalid_request"
    assert "thinking" in caught.value.message


@pytest.mark.parametrize("model", ["google/gemini-2.5-flash", "google/gemini-3-pro-preview"])
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_gemini_thought_signatures_round_trip(stack: RunningStack, model: str, stream: bool) -> None:
    marker = unique("gemini-tools")
    text, assistant = first_turn(stack, model, marker, stream)

    call = check_tool_call(assistant)
    signature = call["extra_content"]["google"]["thought_signature"]
    assert signature.startswith("EmuSig")
    assert call["id"].startswith("call_")

    reply = second_turn(stack, model, text, assistant)

    assert reply.choices[0].message.content == f"Based on the tool: {TOOL_RESULT}"
    upstream = received_all(stack, marker)[-1]["body"]
    assert upstream["contents"] == [
        {"role": "user", "parts": [{"text": text}]},
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_weather", "args": ARGUMENTS}, "thoughtSignature": signature}],
        },
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": TOOL_RESULT}}}]},
    ]
    assert upstream["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather in a city",
                    "parametersJsonSchema": WEATHER_TOOL["function"]["parameters"],
                }
            ]
        }
    ]


def test_gemini_3_rejects_call_without_signature(stack: RunningStack) -> None:
    marker = unique("gemini-unsigned")
    text, assistant = first_turn(stack, "google/gemini-3-pro-preview", marker)
    del assistant["tool_calls"][0]["extra_content"]

    with pytest.raises(openai.BadRequestError) as caught:
        second_turn(stack, "google/gemini-3-pro-preview", text, assistant)

    assert "thought_signature" in caught.value.message


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_deepseek_reasoning_content_kept_on_tool_turns(stack: RunningStack, stream: bool) -> None:
    marker = unique("deepseek-tools")
    text, assistant = first_turn(stack, "deepseek/deepseek-r1", marker, stream)
    call = check_tool_call(assistant)
    assert assistant["reasoning_content"].startswith("Let me think about")

    reply = second_turn(stack, "deepseek/deepseek-r1", text, assistant)

    assert reply.choices[0].message.content == f"Based on the tool: {TOOL_RESULT}"
    replayed = received_all(stack, marker)[-1]["body"]["messages"][1]
    assert replayed["reasoning_content"] == assistant["reasoning_content"]
    assert replayed["tool_calls"] == [
        {
            "id": call["id"],
            "type": "function",
            "function": {"name": "get_weather", "arguments": call["function"]["arguments"]},
        }
    ]


def test_deepseek_drops_reasoning_of_turns_without_tools(stack: RunningStack) -> None:
    marker = unique("deepseek-plain")
    stack.client().chat.completions.create(
        model="deepseek/deepseek-r1",
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "answer", "reasoning_content": "old thoughts"},
            {"role": "user", "content": marker},
        ],
    )

    assert received(stack, marker)["body"]["messages"][1] == {"role": "assistant", "content": "answer"}


@pytest.mark.parametrize(
    ("model", "kept"),
    [
        ("openai/o4-mini", {}),
        ("vllm/qwen3-8b", {"reasoning_content": "thoughts"}),
        ("openrouter/anthropic/claude-sonnet-4", {"reasoning_details": [{"type": "reasoning.text", "text": "t"}]}),
    ],
)
def test_compatible_servers_get_only_their_reasoning_fields(stack: RunningStack, model: str, kept: dict) -> None:
    marker = unique("strip")
    assistant = {
        "role": "assistant",
        "content": "earlier answer",
        "reasoning_content": "thoughts",
        "thinking_blocks": [{"type": "thinking", "thinking": "t", "signature": "s"}],
        "reasoning_details": [{"type": "reasoning.text", "text": "t"}],
    }

    stack.client().chat.completions.create(
        model=model, messages=[{"role": "user", "content": "first"}, assistant, {"role": "user", "content": marker}]
    )

    replayed = received(stack, marker)["body"]["messages"][1]
    assert replayed == {"role": "assistant", "content": "earlier answer", **kept}


def test_openai_two_turns_with_hidden_reasoning(stack: RunningStack) -> None:
    marker = unique("openai-tools")
    text, assistant = first_turn(stack, "openai/o4-mini", marker)
    check_tool_call(assistant)
    assert "reasoning_content" not in assistant

    reply = second_turn(stack, "openai/o4-mini", text, assistant)

    assert reply.choices[0].message.content == f"Based on the tool: {TOOL_RESULT}"
    assert reply.usage.completion_tokens_details.reasoning_tokens > 0


def test_session_sends_thinking_blocks_back(stack: RunningStack) -> None:
    """A session stores the signed blocks with the reply, so the next turn needs only the tool result."""
    session = unique("session-thinking")
    marker = unique("session-tools")
    client = stack.client()
    first = client.chat.completions.create(
        model="anthropic/claude-sonnet-4",
        messages=[{"role": "user", "content": f"Weather in Paris? {marker}\n#emulate tool=get_weather"}],
        tools=[WEATHER_TOOL],
        extra_body={**THINKING_ON, "session_id": session},
    )
    call_id = first.choices[0].message.tool_calls[0].id
    wait_until(lambda: _session_has_turns(stack, session, 2))

    second = client.chat.completions.create(
        model="anthropic/claude-sonnet-4",
        messages=[{"role": "tool", "tool_call_id": call_id, "content": TOOL_RESULT}],
        tools=[WEATHER_TOOL],
        extra_body={**THINKING_ON, "session_id": session},
    )

    assert second.choices[0].message.content == f"Based on the tool: {TOOL_RESULT}"
    replayed = received_all(stack, marker)[-1]["body"]["messages"][1]["content"][0]
    assert replayed == extra(first.choices[0].message, "thinking_blocks")[0]
