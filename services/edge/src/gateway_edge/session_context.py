"""A chat request on a session: the stored history before the request's own messages.

The history comes from the sessions service over NATS request/reply. When it
and the new messages do not fit the model's context window (by the token
estimate of `gateway_contracts.tokens`), the request is rejected with the
counts, or, with `session_truncation: "oldest"`, the oldest turns are left
out until they fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request

from gateway_contracts import ChatCompletionRequest, CredentialRecord, DispatchMeta, bus, catalog_key
from gateway_contracts.rpc import HistoryReply, HistoryRequest
from gateway_contracts.sessions import turn_id
from gateway_contracts.tokens import estimate_tokens
from gateway_edge.calls import call_service
from gateway_edge.errors import EdgeError
from gateway_edge.state import EdgeState

SESSION_HEADER = "x-session-id"
_SESSION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Roles whose leading messages are kept when the oldest turns are dropped.
_INSTRUCTION_ROLES = ("system", "developer")


@dataclass(frozen=True, slots=True)
class SessionRequest:
    session_id: str
    parent_turn_id: str | None
    truncation: str | None


def session_of(chat: ChatCompletionRequest, request: Request) -> SessionRequest | None:
    """Return the session the request names in its body or `x-session-id` header, or None."""
    session_id = chat.session_id
    header = request.headers.get(SESSION_HEADER)
    if session_id is not None and header is not None and header != session_id:
        raise EdgeError(
            "invalid_request",
            f"The body's `session_id` ({session_id}) and the `x-session-id` header ({header[:128]}) name "
            "different sessions; send one of them, or the same id in both.",
            param="session_id",
        )
    if session_id is None:
        if header is not None and not _SESSION_ID.match(header):
            raise EdgeError(
                "invalid_request",
                "Invalid `x-session-id` header: use 1 to 128 letters, digits, `.`, `_`, `:` or `-`.",
                param=SESSION_HEADER,
            )
        session_id = header
    if session_id is None:
        for field in ("parent_turn_id", "session_truncation"):
            if getattr(chat, field) is not None:
                raise EdgeError(
                    "invalid_request",
                    f"`{field}` applies to a session: send `session_id` (or the `x-session-id` header) with it.",
                    param=field,
                )
        return None
    parent = str(chat.parent_turn_id) if chat.parent_turn_id is not None else None
    return SessionRequest(session_id, parent, chat.session_truncation)


async def prepend_history(
    state: EdgeState,
    credential: CredentialRecord,
    chat: ChatCompletionRequest,
    session: SessionRequest,
    body: bytes,
    meta: DispatchMeta,
) -> tuple[bytes, dict[str, str]]:
    """Put the session's history before the request's messages; returns the body and the response headers."""
    history = await call_service(
        state,
        "sessions",
        bus.SESSIONS_HISTORY,
        HistoryRequest(
            project_id=credential.project_id or "",
            session_id=session.session_id,
            parent_turn_id=session.parent_turn_id,
        ),
        HistoryReply,
    )
    data: dict[str, Any] = orjson.loads(body)
    # `meta["model"]` is the catalog id, with an alias resolved.
    entry = state.catalog.get(catalog_key(meta["model"]))
    messages = fit_history(
        history,
        data["messages"],
        ContextLimit(
            model=meta["model"],
            window=entry.context_window if entry is not None else None,
            output_tokens=chat.max_completion_tokens or chat.max_tokens or 0,
            drop_oldest=session.truncation == "oldest",
        ),
    )

    meta["session_id"] = session.session_id
    meta["history_messages"] = len(messages)
    if session.parent_turn_id is not None:
        meta["parent_turn_id"] = session.parent_turn_id
    headers = {
        SESSION_HEADER: session.session_id,
        # The id the reply is stored under, to branch from it later.
        "x-session-turn-id": turn_id(meta["request_id"], len(data["messages"])),
    }
    if len(messages) < len(history.messages):
        headers["x-session-dropped-messages"] = str(len(history.messages) - len(messages))
    if not messages:
        return body, headers
    data["messages"] = messages + data["messages"]
    return orjson.dumps(data), headers


@dataclass(frozen=True, slots=True)
class ContextLimit:
    model: str
    # The model's context window in tokens; None when the catalog does not know it.
    window: int | None
    # The output tokens the request reserves (`max_completion_tokens` or `max_tokens`).
    output_tokens: int
    drop_oldest: bool


def fit_history(history: HistoryReply, new_messages: list[dict[str, Any]], limit: ContextLimit) -> list[dict[str, Any]]:
    """Return the history messages to send: all of them, or without the oldest turns when asked to drop them.

    Raises `context_length_exceeded` with the estimated counts when they do not fit.
    """
    if limit.window is None or not history.messages:
        return history.messages
    messages = history.messages
    tokens = history.tokens if len(history.tokens) == len(messages) else [0] * len(messages)
    new_tokens = estimate_tokens(new_messages)
    if sum(tokens) + new_tokens + limit.output_tokens <= limit.window:
        return messages

    counts = _Counts(limit.model, limit.window, sum(tokens), new_tokens, limit.output_tokens)
    if not limit.drop_oldest:
        raise EdgeError("context_length_exceeded", counts.describe(dropping=False), param="messages")

    # Keep the instructions at the start and drop whole exchanges from the
    # oldest on. What is kept then starts with a user message, so no tool
    # result is left without its tool call.
    lead = 0
    while lead < len(messages) and messages[lead].get("role") in _INSTRUCTION_ROLES:
        lead += 1
    budget = limit.window - new_tokens - limit.output_tokens - sum(tokens[:lead])
    first = lead
    kept = sum(tokens[lead:])
    while first < len(messages) and (kept > budget or messages[first].get("role") != "user"):
        kept -= tokens[first]
        first += 1
    if kept > budget or budget < 0:
        raise EdgeError("context_length_exceeded", counts.describe(dropping=True), param="messages")
    return messages[:lead] + messages[first:]


@dataclass(frozen=True, slots=True)
class _Counts:
    model: str
    window: int
    history: int
    new: int
    output: int

    def describe(self, *, dropping: bool) -> str:
        output = f" plus `max_tokens` {self.output:,}" if self.output else ""
        total = self.history + self.new + self.output
        counts = (
            f"The session's history (about {self.history:,} tokens) and the new messages "
            f"(about {self.new:,} tokens){output} come to about {total:,} tokens, more than the "
            f"{self.window:,}-token context window of `{self.model}`. Token counts are estimates."
        )
        if dropping:
            return f"{counts} Dropping the oldest turns does not make the new messages fit; send shorter messages."
        return (
            f'{counts} Send `session_truncation: "oldest"` to leave out the oldest turns, '
            "or continue from an earlier turn with `parent_turn_id`."
        )
