"""The chat request model: what it accepts and the exact errors it gives."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway_contracts import ChatCompletionRequest, describe_validation_error


def problem_for(body: bytes) -> tuple[str | None, str]:
    with pytest.raises(ValidationError) as caught:
        ChatCompletionRequest.model_validate_json(body)
    problem = describe_validation_error(caught.value)
    return problem.param, problem.message


def test_minimal_request_is_accepted() -> None:
    request = ChatCompletionRequest.model_validate_json(
        b'{"model": "a/b", "messages": [{"role": "user", "content": "hi"}]}'
    )

    assert request.stream is False
    assert request.include_usage is False


def test_unknown_fields_are_kept_for_the_provider() -> None:
    request = ChatCompletionRequest.model_validate_json(
        b'{"model": "a/b", "messages": [{"role": "user", "content": "hi", "cache_control": {"type": "ephemeral"}}],'
        b' "logit_bias": {"50256": -100}}'
    )

    assert request.model_extra == {"logit_bias": {"50256": -100}}
    assert request.messages[0].model_extra == {"cache_control": {"type": "ephemeral"}}


def test_content_parts_are_accepted() -> None:
    request = ChatCompletionRequest.model_validate_json(
        b'{"model": "a/b", "messages": [{"role": "user", "content": ['
        b'{"type": "text", "text": "look"},'
        b'{"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},'
        b'{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},'
        b'{"type": "file", "file": {"file_data": "JVBERi0=", "filename": "a.pdf"}}]}]}'
    )

    assert [part.type for part in request.messages[0].content] == ["text", "image_url", "input_audio", "file"]


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        (b'{"model": "a/b"}', "messages", "Missing required field `messages`."),
        (
            b'{"model": "a/b", "messages": []}',
            "messages",
            "Invalid value for `messages`: List should have at least 1 item after validation, not 0.",
        ),
        (
            b'{"model": "a/b", "messages": [{"role": "robot", "content": "x"}]}',
            "messages[0].role",
            "Invalid value for `messages[0].role`: Input should be 'system', 'developer', 'user', 'assistant',"
            " 'tool' or 'function'.",
        ),
        (
            b'{"model": "a/b", "messages": [{"role": "user"}]}',
            "messages[0]",
            "Invalid value for `messages[0]`: a `user` message needs `content`.",
        ),
        (
            b'{"model": "a/b", "messages": [{"role": "user", "content": 5}]}',
            "messages[0].content",
            "Invalid value for `messages[0].content`: Input should be a string or a list of content parts.",
        ),
        (
            b'{"model": "a/b", "messages": [{"role": "user", "content": [{"type": "video"}]}]}',
            "messages[0].content[0]",
            "Invalid value for `messages[0].content[0]`: Unknown content part type; expected one of `text`,"
            " `image_url`, `input_audio`, `file`, `refusal`.",
        ),
        (
            b'{"model": "a/b", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
            "messages[0].content[0].image_url",
            "Missing required field `messages[0].content[0].image_url`.",
        ),
        (
            b'{"model": "a/b", "messages": [{"role": "tool", "content": "x"}]}',
            "messages[0]",
            "Invalid value for `messages[0]`: a `tool` message needs `tool_call_id`.",
        ),
        (
            b'{"model": "a/b", "messages": [{"role": "user", "content": "x"}], "stop": ["a", "b", "c", "d", "e"]}',
            "stop",
            "Invalid value for `stop`: List should have at most 4 items after validation, not 5.",
        ),
        (
            b'{"model": "a/b", "messages": [{"role": "user", "content": "x"}], "stream_options": {}}',
            None,
            "Invalid request body: `stream_options` is only allowed when `stream` is true.",
        ),
        (b"[1, 2]", None, "Invalid request body: Input should be an object."),
    ],
)
def test_invalid_request_names_the_field(body: bytes, param: str | None, message: str) -> None:
    assert problem_for(body) == (param, message)


def test_session_id_rejects_characters_outside_subject_tokens() -> None:
    param, _message = problem_for(
        b'{"model": "a/b", "messages": [{"role": "user", "content": "x"}], "session_id": "a.b c"}'
    )

    assert param == "session_id"
