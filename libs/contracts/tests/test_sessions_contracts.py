"""Turn ids, session subjects, token estimates and the chat request's session fields."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from gateway_contracts import GATEWAY_FIELDS, ChatCompletionRequest, SessionTurnsEvent, bus
from gateway_contracts.sessions import session_event_subject, turn_id
from gateway_contracts.tokens import IMAGE_TOKEN_ALLOWANCE, PART_ESTIMATES, estimate_message_tokens, estimate_tokens


def test_turn_id_is_stable_per_request_and_index() -> None:
    assert turn_id("req_1", 0) == turn_id("req_1", 0)
    assert turn_id("req_1", 0) != turn_id("req_1", 1)
    assert turn_id("req_1", 0) != turn_id("req_2", 0)
    assert uuid.UUID(turn_id("req_1", 0)).version == 5


def test_session_subject_is_one_token_under_prefix() -> None:
    subject = session_event_subject("proj_a", "chat.with:dots-and_colons")

    assert subject.startswith(bus.SESSION_EVENT_PREFIX + ".")
    assert subject.count(".") == bus.SESSION_EVENT_PREFIX.count(".") + 1
    assert subject != session_event_subject("proj_b", "chat.with:dots-and_colons")
    assert subject != session_event_subject("proj_a.chat", "with:dots-and_colons")


def test_text_is_four_characters_per_token() -> None:
    assert estimate_message_tokens({"role": "user", "content": "x" * 400}) == 100 + 3
    assert estimate_message_tokens({"role": "user", "content": "x"}) == 1 + 3


def test_parts_tool_calls_and_reasoning_count() -> None:
    message = {
        "role": "assistant",
        "content": [{"type": "text", "text": "x" * 40}, {"type": "image_url", "image_url": {"url": "data:,"}}],
        "reasoning_content": "y" * 40,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "zz", "arguments": "a" * 38}}],
        "thinking_blocks": [{"type": "thinking", "thinking": "", "signature": "s" * 4000}],
    }

    assert estimate_message_tokens(message) == 3 + IMAGE_TOKEN_ALLOWANCE + (40 + 40 + 2 + 38) // 4


def test_files_count_a_flat_estimate() -> None:
    pdf = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64," + "A" * 400_000}}

    assert estimate_message_tokens({"role": "user", "content": [pdf]}) == 3 + PART_ESTIMATES["file"]


def test_estimate_of_list_is_sum() -> None:
    messages = [{"role": "user", "content": "x" * 8}, {"role": "assistant", "content": None}]

    assert estimate_tokens(messages) == (3 + 2) + 3


def test_session_fields_are_not_forwarded() -> None:
    assert {"session_id", "parent_turn_id", "session_truncation"} <= GATEWAY_FIELDS


def test_parent_turn_id_must_be_uuid() -> None:
    base = {"model": "a/b", "messages": [{"role": "user", "content": "hi"}], "session_id": "s"}

    with pytest.raises(ValidationError):
        ChatCompletionRequest.model_validate({**base, "parent_turn_id": "not-a-uuid"})
    with pytest.raises(ValidationError):
        ChatCompletionRequest.model_validate({**base, "session_truncation": "newest"})
    parsed = ChatCompletionRequest.model_validate({**base, "parent_turn_id": turn_id("r", 1)})
    assert str(parsed.parent_turn_id) == turn_id("r", 1)


def test_event_rejects_non_uuid_turn_ids() -> None:
    event = {
        "request_id": "r",
        "project_id": "p",
        "session_id": "s",
        "model": "a/b",
        "status": "ok",
        "turns": [{"turn_id": "t-1", "role": "user", "message": {"role": "user", "content": "hi"}}],
        "includes_reply": False,
        "started_at": "2026-01-01T00:00:00Z",
        "completed_at": "2026-01-01T00:00:01Z",
    }

    with pytest.raises(ValidationError):
        SessionTurnsEvent.model_validate(event)
