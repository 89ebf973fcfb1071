"""Request checks at the edge: each bad body gets a 400 naming the field, and no provider receives it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import RunningStack

MODEL = "openai/gpt-4o-mini"


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def post(stack: RunningStack, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    with stack.http() as http:
        return http.post(
            "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {stack.api_key}", **(headers or {})},
        )


def received(stack: RunningStack, marker: str) -> list[dict[str, Any]]:
    """The requests the emulator received that mention `marker` anywhere, in any provider's format."""
    return [record for record in stack.emulator_requests() if marker in str(record["body"])]


def assert_rejected(response: Any, param: str, code: str = "invalid_request") -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == code
    assert error["param"] == param
    assert f"`{param}`" in error["message"]
    return error


@pytest.mark.parametrize(
    ("fields", "param", "expected"),
    [
        ({"max_tokens": "10"}, "max_tokens", "not a string"),
        ({"max_completion_tokens": "10"}, "max_completion_tokens", "not a string"),
        ({"temperature": "0.5"}, "temperature", "not a string"),
        ({"top_p": "0.5"}, "top_p", "not a string"),
        ({"presence_penalty": "1"}, "presence_penalty", "not a string"),
        ({"frequency_penalty": "1"}, "frequency_penalty", "not a string"),
        ({"n": "2"}, "n", "not a string"),
        ({"seed": "7"}, "seed", "not a string"),
        ({"seed": 7.5}, "seed", "valid integer"),
        ({"max_tokens": 10.0}, "max_tokens", "valid integer"),
        ({"max_tokens": True}, "max_tokens", "valid integer"),
        ({"thinking": {"enabled": "yes"}}, "thinking.enabled", "not a string"),
        ({"thinking": {"budget_tokens": "1024"}}, "thinking.budget_tokens", "not a string"),
        ({"thinking": {"budget_tokens": 1e30}}, "thinking.budget_tokens", "valid integer"),
        ({"stream": True, "stream_options": {"include_usage": 1}}, "stream_options.include_usage", "boolean"),
        ({"parallel_tool_calls": "false"}, "parallel_tool_calls", "not a string"),
        ({"dry_run": "true"}, "dry_run", "not a string"),
    ],
)
def test_typed_field_of_wrong_type_is_400(stack: RunningStack, fields: dict, param: str, expected: str) -> None:
    marker = unique("typed")
    body = {"model": MODEL, "messages": [{"role": "user", "content": marker}], **fields}

    error = assert_rejected(post(stack, body), param)

    assert expected in error["message"]
    assert received(stack, marker) == []


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_number_is_400(stack: RunningStack, literal: str) -> None:
    marker = unique("finite")
    raw = f'{{"model": "{MODEL}", "messages": [{{"role": "user", "content": "{marker}"}}], "temperature": {literal}}}'
    with stack.http() as http:
        response = http.post(
            "/v1/chat/completions",
            content=raw.encode(),
            headers={"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"},
        )

    error = assert_rejected(response, "temperature")
    assert "finite number" in error["message"]
    assert received(stack, marker) == []


def test_integer_for_a_number_field_is_accepted(stack: RunningStack) -> None:
    marker = unique("integer-number")
    body = {"model": MODEL, "messages": [{"role": "user", "content": marker}], "temperature": 1, "top_p": 1}

    response = post(stack, body)

    assert response.status_code == 200, response.text
    assert len(received(stack, marker)) == 1


ANTHROPIC = "anthropic/claude-sonnet-4"
GEMINI = "google/gemini-2.5-flash"


def with_thinking_blocks(marker: str, blocks: Any) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": marker},
        {"role": "assistant", "content": "earlier answer", "thinking_blocks": blocks},
        {"role": "user", "content": "and now?"},
    ]


@pytest.mark.parametrize(
    "blocks",
    [
        "notalist",
        [1],
        {"type": "thinking"},
        [{"type": "thinking"}],
        [{"type": "thinking", "thinking": "t", "signature": 5}],
        [{"type": "redacted_thinking"}],
        [{"type": "unknown"}],
    ],
)
def test_malformed_thinking_blocks_are_400(stack: RunningStack, blocks: Any) -> None:
    marker = unique("blocks")

    response = post(stack, {"model": ANTHROPIC, "messages": with_thinking_blocks(marker, blocks)})

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["param"].startswith("messages[1].thinking_blocks")
    assert f"`{error['param']}`" in error["message"]
    assert received(stack, marker) == []


def test_wellformed_thinking_blocks_reach_anthropic(stack: RunningStack) -> None:
    marker = unique("blocks-ok")
    blocks = [
        {"type": "thinking", "thinking": "reasoned", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
    ]

    post(stack, {"model": ANTHROPIC, "messages": with_thinking_blocks(marker, blocks)})

    # The emulator checks signatures as Anthropic does and rejects this made-up
    # one; what matters here is that the blocks passed the edge unchanged.
    [request] = received(stack, marker)
    assistant = request["body"]["messages"][1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": "reasoned", "signature": "sig"}
    assert assistant[1] == {"type": "redacted_thinking", "data": "opaque"}


def image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def audio(data: str, audio_format: str) -> dict[str, Any]:
    return {"type": "input_audio", "input_audio": {"data": data, "format": audio_format}}


@pytest.mark.parametrize(
    ("model", "part", "param", "expected"),
    [
        (GEMINI, image("data:image/png;base64,!!!!"), "messages[0].content[1].image_url.url", "base64"),
        (GEMINI, image("data:image/png;base64,QUJD"[:-1]), "messages[0].content[1].image_url.url", "base64"),
        (GEMINI, image("data:image/png;base64,"), "messages[0].content[1].image_url.url", "empty"),
        (GEMINI, image("data:image/png,QUJD"), "messages[0].content[1].image_url.url", "base64"),
        (GEMINI, image("data:text/html;base64,QUJD"), "messages[0].content[1].image_url.url", "`image/`"),
        (GEMINI, image("data:not a type;base64,QUJD"), "messages[0].content[1].image_url.url", "media type"),
        (GEMINI, audio("!!!", "wav"), "messages[0].content[1].input_audio.data", "base64"),
        (GEMINI, audio("UklGRg==", "exe"), "messages[0].content[1].input_audio.format", "'wav'"),
        (
            GEMINI,
            {"type": "file", "file": {"file_data": "%%%", "filename": "a.pdf"}},
            "messages[0].content[1].file.file_data",
            "base64",
        ),
    ],
)
def test_junk_inline_content_is_400(stack: RunningStack, model: str, part: dict, param: str, expected: str) -> None:
    marker = unique("junk")
    body = {"model": model, "messages": [{"role": "user", "content": [{"type": "text", "text": marker}, part]}]}

    error = assert_rejected(post(stack, body), param)

    assert expected in error["message"]
    assert received(stack, marker) == []


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "function"}]}, "tools[0].function"),
        ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": "has.dot"}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": "x" * 65}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "retrieval", "function": {"name": "f"}}]}, "tools[0]"),
        ({"tools": ["f"]}, "tools[0]"),
        ({"tools": [{"type": "custom", "custom": {}}]}, "tools[0].custom.name"),
        (
            {"tools": [{"type": "custom", "custom": {"name": "g", "format": {"type": "xml"}}}]},
            "tools[0].custom.format.type",
        ),
        ({"tool_choice": {"type": "function"}}, "tool_choice.function"),
        (
            {"tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "any", "tools": [{}]}}},
            "tool_choice.allowed_tools.mode",
        ),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tools": []}, "tools"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}] * 2}, "tools"),
        (
            {
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": {"type": "function", "function": {"name": "g"}},
            },
            "tool_choice",
        ),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
        ({"response_format": {"type": "json_schema", "json_schema": "x"}}, "response_format.json_schema"),
        ({"response_format": {"type": "yaml"}}, "response_format.type"),
    ],
)
def test_malformed_tools_are_400(stack: RunningStack, fields: dict, param: str) -> None:
    marker = unique("tools")
    body = {"model": MODEL, "messages": [{"role": "user", "content": marker}], **fields}

    assert_rejected(post(stack, body), param)
    assert received(stack, marker) == []


CUSTOM_TOOL = {"type": "custom", "custom": {"name": "run_sql", "format": {"type": "grammar", "syntax": "lark"}}}
ALLOWED_TOOLS = {
    "type": "allowed_tools",
    "allowed_tools": {"mode": "required", "tools": [{"type": "custom", "custom": {"name": "run_sql"}}]},
}


def test_custom_tools_reach_openai(stack: RunningStack) -> None:
    marker = unique("custom")
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": marker}],
        "tools": [CUSTOM_TOOL],
        "tool_choice": ALLOWED_TOOLS,
    }

    response = post(stack, body)

    assert response.status_code == 200, response.text
    [upstream] = received(stack, marker)
    assert upstream["body"]["tools"] == [CUSTOM_TOOL]
    assert upstream["body"]["tool_choice"] == ALLOWED_TOOLS


@pytest.mark.parametrize(
    ("fields", "param"), [({"tools": [CUSTOM_TOOL]}, "tools[0]"), ({"tool_choice": ALLOWED_TOOLS}, "tool_choice")]
)
def test_custom_tools_elsewhere_are_400(stack: RunningStack, fields: dict, param: str) -> None:
    marker = unique("custom")
    function = {"type": "function", "function": {"name": "lookup"}}
    body = {"model": GEMINI, "messages": [{"role": "user", "content": marker}], "tools": [function], **fields}

    error = assert_rejected(post(stack, body), param, code="capability_not_supported")

    assert "custom tools" in error["message"]
    assert received(stack, marker) == []


@pytest.mark.parametrize("extra", ["not-an-object", {"google": "not-an-object"}, ["list"]])
def test_unexpected_tool_call_extra_never_fails_gemini(stack: RunningStack, extra: Any) -> None:
    marker = unique("extra")
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": marker},
        {"role": "assistant", "content": None, "tool_calls": [{**call, "extra_content": extra}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "found"},
    ]
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]

    response = post(stack, {"model": GEMINI, "messages": messages, "tools": tools})

    assert response.status_code == 200, response.text
    assert len(received(stack, marker)) == 1


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"thinking": {"budget_tokens": 1e30}}, ["valid integer"]),
        ({"thinking": {"budget_tokens": 5000}, "max_tokens": 4000}, ["is 5000", "between ", "and 3999", "(4000)"]),
    ],
)
def test_budget_above_output_names_values(stack: RunningStack, fields: dict, expected: list[str]) -> None:
    marker = unique("budget")
    body = {"model": ANTHROPIC, "messages": [{"role": "user", "content": marker}], **fields}

    error = assert_rejected(post(stack, body), "thinking.budget_tokens")

    for text in expected:
        assert text in error["message"]
    assert "e+" not in error["message"]
    assert received(stack, marker) == []


def test_conflicting_session_ids_are_400(stack: RunningStack) -> None:
    marker = unique("sessions")
    body = {"model": MODEL, "messages": [{"role": "user", "content": marker}], "session_id": unique("body")}

    error = assert_rejected(post(stack, body, {"x-session-id": unique("header")}), "session_id")

    assert body["session_id"] in error["message"]
    assert "`x-session-id`" in error["message"]
    assert received(stack, marker) == []


def test_same_session_id_in_body_and_header_is_accepted(stack: RunningStack) -> None:
    marker = unique("same-session")
    session_id = unique("session")
    body = {"model": MODEL, "messages": [{"role": "user", "content": marker}], "session_id": session_id}

    response = post(stack, body, {"x-session-id": session_id})

    assert response.status_code == 200, response.text
    assert len(received(stack, marker)) == 1


def small_model(stack: RunningStack) -> dict[str, Any]:
    from tests.test_catalog import add_custom_model

    return add_custom_model(stack, ["text", "streaming"], context_window=1000, max_output_tokens=100)


def test_prompt_beyond_context_window_is_400(stack: RunningStack) -> None:
    model = small_model(stack)
    marker = unique("window")
    # 1000 tokens of at most 128 bytes each cannot hold this much text.
    text = marker + " " + "x" * (1000 * 128 + 1)

    response = post(stack, {"model": model["id"], "messages": [{"role": "user", "content": text}]})

    error = assert_rejected(response, "messages", code="context_length_exceeded")
    assert "1000 tokens" in error["message"]
    assert f"at least {-(-len(text) // 128)} tokens" in error["message"]
    assert received(stack, marker) == []


def test_long_openai_prompt_is_counted_and_rejected(stack: RunningStack) -> None:
    marker = unique("window-openai")
    text = marker + " " + " ".join(f"word{index}" for index in range(400_000))

    response = post(stack, {"model": MODEL, "messages": [{"role": "user", "content": text}]})

    error = assert_rejected(response, "messages", code="context_length_exceeded")
    assert "128000 tokens" in error["message"]
    assert "o200k_base" in error["message"]
    assert received(stack, marker) == []


def test_prompt_of_repeated_spaces_within_window_is_served(stack: RunningStack) -> None:
    model = small_model(stack)
    marker = unique("spaces")
    # Far more bytes than tokens in the window, yet few tokens: the check must not guess.
    text = marker + " " * (1000 * 100)

    response = post(stack, {"model": model["id"], "messages": [{"role": "user", "content": text}]})

    assert response.status_code == 200, response.text
    assert len(received(stack, marker)) == 1


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
def test_output_above_model_limit_is_400(stack: RunningStack, param: str) -> None:
    model = small_model(stack)
    marker = unique("output")
    body = {"model": model["id"], "messages": [{"role": "user", "content": marker}], param: 101}

    error = assert_rejected(post(stack, body), param)

    assert "too large: 101" in error["message"]
    assert "at most 100" in error["message"]
    assert received(stack, marker) == []


def test_output_at_model_limit_is_served(stack: RunningStack) -> None:
    model = small_model(stack)
    marker = unique("output-ok")
    body = {"model": model["id"], "messages": [{"role": "user", "content": marker}], "max_tokens": 100}

    response = post(stack, body)

    assert response.status_code == 200, response.text
    assert len(received(stack, marker)) == 1
