"""The session event the router publishes when a request on a session ends."""

from __future__ import annotations

from typing import Any

import orjson

from gateway_contracts import DispatchMeta
from gateway_contracts.sessions import turn_id
from gateway_router.session_events import encode_session_event, session_event

META: DispatchMeta = {
    "request_id": "req_1",
    "project_id": "proj",
    "key_id": "key",
    "model": "anthropic/claude-sonnet-4",
    "stream": False,
    "include_usage": False,
    "received_at": 1_767_225_600.0,
    "session_id": "chat",
    "history_messages": 2,
}
BODY: dict[str, Any] = {
    "messages": [
        {"role": "user", "content": "from history"},
        {"role": "assistant", "content": "also from history"},
        {"role": "user", "content": "new"},
    ]
}


def test_event_has_new_messages_and_whole_reply() -> None:
    reply = {
        "role": "assistant",
        "content": "391.",
        "reasoning_content": "17*23",
        "thinking_blocks": [{"type": "thinking", "thinking": "17*23", "signature": "EqwB=="}],
    }

    event = session_event(META, BODY, "ok", reply)

    assert event is not None
    assert [turn.message for turn in event.turns] == [{"role": "user", "content": "new"}, reply]
    assert [str(turn.turn_id) for turn in event.turns] == [turn_id("req_1", 0), turn_id("req_1", 1)]
    assert event.includes_reply is True
    assert event.parent_turn_id is None
    assert event.started_at.timestamp() == META["received_at"]


def test_failed_request_without_output_keeps_only_its_messages() -> None:
    event = session_event({**META, "parent_turn_id": turn_id("req_0", 1)}, BODY, "error", None)

    assert event is not None
    assert [turn.role for turn in event.turns] == ["user"]
    assert event.includes_reply is False
    assert event.status == "error"
    assert str(event.parent_turn_id) == turn_id("req_0", 1)


def test_no_event_without_session() -> None:
    meta = {key: value for key, value in META.items() if key != "session_id"}

    assert session_event(meta, BODY, "ok", {"role": "assistant", "content": "x"}) is None  # type: ignore[arg-type]
    assert session_event(META, None, "error", None) is None


def test_large_parts_left_out_of_oversized_event() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 200_000}}
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "look"}, image]}]}
    event = session_event({**META, "history_messages": 0}, body, "ok", {"role": "assistant", "content": "ok"})
    assert event is not None

    whole = orjson.loads(encode_session_event(event, 1_000_000))
    reduced = orjson.loads(encode_session_event(event, 100_000))

    assert whole["turns"][0]["message"]["content"][1] == image
    content = reduced["turns"][0]["message"]["content"]
    assert content[0] == {"type": "text", "text": "look"}
    assert content[1]["type"] == "text"
    assert "`image_url` part" in content[1]["text"]
    assert reduced["turns"][1]["message"] == {"role": "assistant", "content": "ok"}
