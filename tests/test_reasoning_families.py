"""One client code for every model family: reasoning on and off, streamed and not, through the `openai` package.

Each test runs once per family. The emulator records what it received, and
each test compares that whole upstream body with what the family's wire
format requires.
"""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.conftest import RunningStack
from tests.providers import (
    BUDGET,
    FAMILIES,
    FAMILY_IDS,
    SYSTEM,
    Family,
    extra,
    openai_messages,
    received,
    unique,
    words,
)

THINKING_ON = {"thinking": {"enabled": True, "budget_tokens": BUDGET}}
THINKING_OFF = {"thinking": {"enabled": False}}


def question(marker: str) -> str:
    return f"What is 17 times 23? {marker}"


def expected_reasoning(text: str) -> str:
    """The emulator reasons "Let me think about" and the first eight words of the question."""
    return " ".join(["Let", "me", "think", "about", *text.split()[:8]])


def expected_answer(family: Family, text: str) -> str:
    return f"Emulated reply from {family.upstream_model}: {text}"


def expected_prompt_tokens(text: str) -> int:
    # The emulator counts words, plus three tokens of framing per message.
    return words(SYSTEM) + 3 + words(text) + 3


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_thinking_returns_reasoning_then_content(stack: RunningStack, family: Family) -> None:
    text = question(unique(family.name))

    completion = stack.client().chat.completions.create(
        model=family.model, messages=openai_messages(text), extra_body=THINKING_ON
    )

    message = completion.choices[0].message
    reasoning = expected_reasoning(text)
    assert message.content == expected_answer(family, text)
    assert extra(message, "reasoning_content") == (reasoning if family.returns_reasoning else None)
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage.prompt_tokens == expected_prompt_tokens(text)
    assert usage.completion_tokens == words(message.content) + words(reasoning)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens_details.reasoning_tokens == words(reasoning)
    assert usage.prompt_tokens_details.cached_tokens == 0

    upstream = received(stack, text)
    assert upstream["path"] == family.path
    assert upstream["body"] == family.upstream_on(text, False)


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_thinking_streams_reasoning_before_content(stack: RunningStack, family: Family) -> None:
    text = question(unique(f"{family.name}-stream"))

    chunks = list(
        stack.client().chat.completions.create(
            model=family.model,
            messages=openai_messages(text),
            stream=True,
            stream_options={"include_usage": True},
            extra_body=THINKING_ON,
        )
    )

    kinds = []
    for chunk in chunks[:-1]:
        delta = chunk.choices[0].delta
        if extra(delta, "reasoning_content"):
            kinds.append("reasoning")
        if delta.content:
            kinds.append("content")
    reasoning = "".join(extra(chunk.choices[0].delta, "reasoning_content") or "" for chunk in chunks if chunk.choices)
    content = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert content == expected_answer(family, text)
    assert reasoning == (expected_reasoning(text) if family.returns_reasoning else "")
    assert kinds == sorted(kinds, key=lambda kind: kind != "reasoning")
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "stop"
    assert [chunk for chunk in chunks if not chunk.choices] == [chunks[-1]]
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == words(expected_reasoning(text))
    assert chunks[-1].usage.prompt_tokens == expected_prompt_tokens(text)

    upstream = received(stack, text)
    assert upstream["path"] == family.stream_path
    assert upstream["body"] == family.upstream_on(text, True)


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_thinking_off_sends_each_switch(stack: RunningStack, family: Family) -> None:
    text = question(unique(f"{family.name}-off"))

    completion = stack.client().chat.completions.create(
        model=family.model, messages=openai_messages(text), extra_body=THINKING_OFF
    )

    reasoning = expected_reasoning(text) if family.reasons_when_off else None
    assert completion.choices[0].message.content == expected_answer(family, text)
    assert extra(completion.choices[0].message, "reasoning_content") == reasoning
    assert received(stack, text)["body"] == family.upstream_off(text, False)


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_raw_stream_ends_with_one_usage_chunk_then_done(stack: RunningStack, family: Family) -> None:
    text = question(unique(f"{family.name}-raw"))
    body = {
        "model": family.model,
        "messages": openai_messages(text),
        "stream": True,
        "stream_options": {"include_usage": True},
        **THINKING_ON,
    }

    with stack.http() as http:
        response = http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {stack.api_key}"})

    events = [line[len("data: ") :] for line in response.text.split("\n\n") if line.startswith("data: ")]
    assert response.status_code == 200
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(event) for event in events[:-1]]
    assert [chunk["choices"] for chunk in chunks].count([]) == 1
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == words(expected_reasoning(text))
    assert all(chunk["usage"] is None for chunk in chunks[:-1] if "usage" in chunk)
    assert len({chunk["id"] for chunk in chunks}) == 1


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_stream_keeps_multibyte_characters_split_upstream(stack: RunningStack, family: Family) -> None:
    marker = unique(f"{family.name}-bytes")
    reply = "héllo wörld 日本語 ✓ ünïcode"
    content = f"{marker}\n#emulate split=1 reply={reply}"

    chunks = list(
        stack.client().chat.completions.create(
            model=family.model, messages=[{"role": "user", "content": content}], stream=True
        )
    )

    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == reply


def test_streaming_without_usage_option_hides_the_usage_chunk(stack: RunningStack) -> None:
    chunks = list(
        stack.client().chat.completions.create(
            model="anthropic/claude-sonnet-4",
            messages=[{"role": "user", "content": unique("no-usage")}],
            stream=True,
            extra_body=THINKING_ON,
        )
    )

    assert all(chunk.choices for chunk in chunks)


def test_httpx_client_reads_done_after_error_free_stream(stack: RunningStack) -> None:
    """The stream of a native family is plain SSE: every event a `data:` line, nothing else."""
    text = question(unique("plain-sse"))
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        with http.stream(
            "POST",
            "/v1/chat/completions",
            json={"model": "google/gemini-2.5-flash", "messages": openai_messages(text), "stream": True},
            headers={"Authorization": f"Bearer {stack.api_key}"},
        ) as response:
            lines = [line for line in response.iter_lines() if line]

    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
