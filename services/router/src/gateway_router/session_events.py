"""The session event of a finished request: its new messages and the reply the client received."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway_contracts import DispatchMeta, RequestStatus, SessionTurn, SessionTurnsEvent
from gateway_contracts.sessions import turn_id


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
    return SessionTurnsEvent(
        request_id=request_id,
        project_id=meta["project_id"],
        session_id=session_id,
        model=model or meta["model"],
        status=status,
        parent_turn_id=meta.get("parent_turn_id"),
        turns=turns,
        includes_reply=reply is not None,
        started_at=datetime.fromtimestamp(meta["received_at"], UTC),
        completed_at=datetime.now(UTC),
    )
