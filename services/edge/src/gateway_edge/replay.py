"""Replay: run a session's conversation again against another model, as a new branch.

Replay runs in the edge, which already dispatches chat requests to the
routers. For each assistant reply on the replayed path, in order, it sends
the conversation so far (the recorded inputs, and the new model's earlier
replies) to the new model as one non-streaming request on the session. That
request carries the parameters of the request that produced the recorded
reply (tools, temperature, thinking and the like), without its reasoning
request when the new model cannot reason. Each request names the previous new
turn as `parent_turn_id`, so the router's session events build the new
branch turn by turn, starting from the turn before the first reply. The inputs before that turn are shared with the
replayed branch, not copied.

A recorded tool result carries the id of a recorded tool call, which the new
model does not know. Tool results are therefore sent with the ids of the new
reply's calls, matched by position. When the new reply makes a different
number of calls than the recorded one, the recorded results do not fit it,
and the replay stops there.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.types import Receive

from gateway_contracts import CatalogEntry, ChatCompletionRequest, CredentialRecord, DispatchMeta, FrameKind, bus
from gateway_contracts.sessions import Branch, PathRequest, SessionPath, Turn, turn_id
from gateway_edge.admission import admit
from gateway_edge.calls import call_service
from gateway_edge.capabilities import check_capabilities
from gateway_edge.chat import dispatch, first_frame
from gateway_edge.errors import EdgeError
from gateway_edge.state import EdgeState


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    session_id: str
    model: str
    turn_id: str | None
    branch_id: str | None


@dataclass(frozen=True, slots=True)
class ReplayResult:
    # The last turn of the replayed path.
    source_turn_id: str
    branch: Branch
    # The new branch's turns, from its first one on.
    turns: list[Turn]
    # The reason the replay ended before the path did; None when it replayed it all.
    stopped_reason: str | None


# Request fields that bound a request's output, and so its worst-case cost.
_LIMIT_FIELDS = ("max_tokens", "max_completion_tokens", "n")
# The spellings of a reasoning request, dropped for a new model without the `reasoning` capability.
_REASONING_FIELDS = frozenset({"thinking", "reasoning", "reasoning_effort"})


class ClientGone(Exception):
    """The client disconnected during the replay; the turns stored so far stay."""


async def replay_session(
    state: EdgeState, credential: CredentialRecord, replay: ReplayRequest, receive: Receive
) -> ReplayResult:
    entry = state.models.resolve(replay.model)
    replay = replace(replay, model=entry.id)
    project_id = credential.project_id or ""
    source = await _read_path(
        state,
        PathRequest(
            project_id=project_id, session_id=replay.session_id, turn_id=replay.turn_id, branch_id=replay.branch_id
        ),
    )
    context = [turn for turn in source.turns if turn.in_context]
    while context and context[0].role == "tool":
        context.pop(0)
    _check_capabilities(state, entry, context)
    replies = [index for index, turn in enumerate(context) if turn.role == "assistant"]
    if not replies or replies[0] == 0:
        raise EdgeError(
            "invalid_request",
            f"The session `{replay.session_id}` has no message followed by an assistant reply to replay.",
        )

    run = _Run(state, credential, entry, replay, receive, context[: replies[0]])
    fork_turn_id = run.parent_turn_id
    stopped_reason = await run.replay(context[replies[0] :])

    # Read the new branch back: the read stores the router's last events if
    # the consumer has not yet, and gives each turn as stored.
    stored = await _read_path(
        state, PathRequest(project_id=project_id, session_id=replay.session_id, turn_id=run.parent_turn_id)
    )
    fork = next(index for index, turn in enumerate(stored.turns) if turn.id == fork_turn_id)
    new_turns = stored.turns[fork + 1 :]
    head = stored.turns[-1]
    branch = Branch(
        id=head.branch_id,
        head_turn_id=head.id,
        base_turn_id=fork_turn_id,
        turn_count=sum(1 for turn in stored.turns if turn.branch_id == head.branch_id),
        model=head.model,
        created_at=new_turns[0].created_at,
        updated_at=head.created_at,
    )
    return ReplayResult(source.turns[-1].id, branch, new_turns, stopped_reason)


class _Run:
    """One replay in progress: the conversation sent so far and the turn the next request continues from."""

    def __init__(
        self,
        state: EdgeState,
        credential: CredentialRecord,
        entry: CatalogEntry,
        replay: ReplayRequest,
        receive: Receive,
        shared: list[Turn],
    ) -> None:
        self._state = state
        self._credential = credential
        self._entry = entry
        self._replay = replay
        self._receive = receive
        self.messages: list[dict[str, Any]] = [turn.message for turn in shared]
        self.parent_turn_id = shared[-1].id
        # Recorded tool call id -> the id of the matching call in the new reply.
        self._call_ids: dict[str, str] = {}

    async def replay(self, turns: list[Turn]) -> str | None:
        """Send one request per assistant turn of `turns`; returns why it stopped early, or None."""
        inputs: list[dict[str, Any]] = []
        for position, turn in enumerate(turns):
            if turn.role != "assistant":
                inputs.append(self._with_new_call_ids(turn.message))
                continue
            reply = await self._step(inputs, turn.request_options or {})
            inputs = []
            recorded_calls = turn.message.get("tool_calls") or []
            new_calls = reply.get("tool_calls") or []
            if len(recorded_calls) != len(new_calls) and position + 1 < len(turns):
                # Providers reject tool calls without results in the next
                # messages, and tool results without their tool call.
                return (
                    f"The recorded reply made {len(recorded_calls)} tool calls and `{self._replay.model}` made "
                    f"{len(new_calls)}, so the recorded messages after it cannot follow the new reply."
                )
            for recorded, new in zip(recorded_calls, new_calls, strict=False):
                self._call_ids[str(recorded.get("id"))] = str(new.get("id"))
        return None

    def _options_for_target(self, options: dict[str, Any]) -> dict[str, Any]:
        """Drop the recorded reasoning request when the new model cannot reason, so that the models compare."""
        if "reasoning" in self._entry.capabilities:
            return options
        return {key: value for key, value in options.items() if key not in _REASONING_FIELDS}

    def _with_new_call_ids(self, message: dict[str, Any]) -> dict[str, Any]:
        call_id = message.get("tool_call_id")
        if message.get("role") != "tool" or call_id not in self._call_ids:
            return message
        return {**message, "tool_call_id": self._call_ids[call_id]}

    async def _step(self, inputs: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
        """Send the conversation so far plus `inputs`, with the recorded request's `options`; returns the reply."""
        request_id = f"req_{uuid.uuid4().hex}"
        meta: DispatchMeta = {
            "request_id": request_id,
            "project_id": self._credential.project_id or "",
            "key_id": self._credential.key_id,
            "model": self._replay.model,
            "stream": False,
            "include_usage": False,
            "received_at": time.time(),
            "session_id": self._replay.session_id,
            "history_messages": len(self.messages),
            "parent_turn_id": self.parent_turn_id,
        }
        options = self._options_for_target(options)
        body = orjson.dumps({**options, "model": self._replay.model, "messages": self.messages + inputs})

        # Each step is a request like any other: it reserves its worst case
        # against the project's budget and is rejected with 402 when that
        # does not fit. The output limit is the recorded request's, or the catalog entry's.
        state = self._state
        limits = ChatCompletionRequest.model_construct(
            model=self._entry.id, **{key: options[key] for key in _LIMIT_FIELDS if key in options}
        )
        reservation = await admit(state.budgets, self._credential, self._entry, limits, body, meta["received_at"])
        if reservation is not None:
            meta["reserved_project_usd"] = format(reservation.project_usd, "f")
            meta["reserved_key_usd"] = format(reservation.key_usd, "f")
        exchange = await dispatch(state, meta, body, reservation)
        try:
            frame = await first_frame(state.router, exchange, self._receive)
        except EdgeError as error:
            if reservation is not None and error.code == "router_unavailable" and error.status == 503:
                # No router was subscribed, so nothing ran and no usage event will settle it.
                await state.budgets.release(reservation)
            raise
        router = state.router
        if frame is None:
            raise ClientGone
        router.finish(exchange)
        if frame.kind is FrameKind.ERROR:
            error = orjson.loads(frame.payload)
            detail = error["error"]["error"]
            raise EdgeError(
                detail.get("code") or "upstream_error",
                f"The replay stopped after turn `{self.parent_turn_id}`: {detail.get('message')}",
                status=int(error["status"]),
            )

        completion = orjson.loads(frame.payload)
        reply: dict[str, Any] = completion["choices"][0]["message"]
        self.messages += [*inputs, reply]
        self.parent_turn_id = turn_id(request_id, len(inputs))
        return reply


def _check_capabilities(state: EdgeState, entry: CatalogEntry, context: list[Turn]) -> None:
    """Reject, before any call, a conversation with parts (images, PDFs, audio, tool calls) the model cannot take."""
    tools = next((turn.request_options["tools"] for turn in context if (turn.request_options or {}).get("tools")), None)
    document = {"model": entry.id, "messages": [turn.message for turn in context], "tools": tools}
    try:
        chat = ChatCompletionRequest.model_validate(document)
    except ValidationError:
        # Stored replies are provider output, which the request model need
        # not accept; the provider then judges the request itself.
        return
    check_capabilities(chat, entry, state.models)


async def _read_path(state: EdgeState, request: PathRequest) -> SessionPath:
    return await call_service(state, "sessions", bus.SESSIONS_PATH, request, SessionPath)
