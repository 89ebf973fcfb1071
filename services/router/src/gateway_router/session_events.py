"""The session event of a finished request: its new messages and the reply the client received."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from gateway_contracts import GATEWAY_FIELDS, DispatchMeta, RequestStatus, SessionTurn, SessionTurnsEvent
from gateway_contracts.sessions import turn_id

# Body fields that are not request options: the conversation, and how this
# one request was delivered.
_NOT_OPTIONS = frozenset({"messages", "model", "stream", "stream_options"})


def session_event(
    meta: DispatchMeta,
    body: dict[str, Any] | None,
    status: RequestStatus,
    reply: dict[str, Any] | None,
    model: str | None = None,
) -> SessionTurnsEvent | None:
    """Build the event for a request on a session, or return None for a request without one.

    `reply` is the assistant message as the router rebuilt it, with every
    field it carries, or None when the client received no output. The
    request's own messages are those after the `history_messages` that the
    edge prepended. `model` is the model that served the request, when a
    fallback changed it.
    """
    session_id = meta.get("session_id")
    if session_id is None or body is None:
        return None

    request_id = meta["request_id"]
    messages: list[dict[str, Any]] = list(body.get("messages", [])[meta.get("history_messages", 0) :])
    if reply is not None:
        messages.append(reply)
    turns = [
        SessionTurn(turn_id=turn_id(request_id, index), role=str(message.get("role", "user")), message=message)
        for index, message in enumerate(messages)
    ]
    options = {key: value for key, value in body.items() if key not in _NOT_OPTIONS and key not in GATEWAY_FIELDS}
    return SessionTurnsEvent(
        request_id=request_id,
        project_id=meta["project_id"],
        session_id=session_id,
        model=model or meta["model"],
        status=status,
        parent_turn_id=meta.get("parent_turn_id"),
        turns=turns,
        options=options,
        includes_reply=reply is not None,
        started_at=datetime.fromtimestamp(meta["received_at"], UTC),
        completed_at=datetime.now(UTC),
    )


# Sizes above which content is left out of an event that does not fit one
# NATS message, tried in turn until the event fits.
_LARGE_PART_THRESHOLDS = (64 * 1024, 4 * 1024, 256)


def encode_session_event(event: SessionTurnsEvent, max_bytes: int) -> bytes:
    """Serialize the event, leaving out large content parts when it would not fit `max_bytes`.

    JetStream stores a message of at most the server's `max_payload`, and an
    event that never fits would be published again forever. A left-out part
    (an image, a PDF, a recording) is replaced by a text part that notes
    the omission, and later requests on the session send that note instead.
    """
    payload = event.model_dump_json().encode()
    for threshold in _LARGE_PART_THRESHOLDS:
        if len(payload) <= max_bytes:
            return payload
        turns = [
            turn.model_copy(update={"message": _without_large_parts(turn.message, threshold)}) for turn in event.turns
        ]
        payload = event.model_copy(update={"turns": turns}).model_dump_json().encode()
    return payload


def _without_large_parts(message: dict[str, Any], threshold: int) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str):
        size = len(content.encode())
        if size <= threshold:
            return message
        return {**message, "content": f"[A text of {size} bytes was too large to keep in the session.]"}
    if not isinstance(content, list):
        return message
    parts = []
    for part in content:
        size = len(orjson.dumps(part))
        if size <= threshold:
            parts.append(part)
            continue
        kind = part.get("type") if isinstance(part, dict) else None
        note = f"[A `{kind}` part of {size} bytes was too large to keep in the session.]"
        parts.append({"type": "text", "text": note})
    return {**message, "content": parts}
