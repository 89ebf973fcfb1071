"""`/v1/sessions`: the caller's project's sessions, their turns and branches, deletion, export and replay.

The sessions service owns the data. Each endpoint authenticates the project
key and calls the sessions service over NATS. A session of another project gets the same 404 as
a session that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from starlette.responses import JSONResponse, Response

from gateway_contracts import CredentialRecord, bus
from gateway_contracts.chat import describe_validation_error
from gateway_contracts.sessions import (
    Branch,
    PathRequest,
    SessionDeleted,
    SessionDetail,
    SessionList,
    SessionListRequest,
    SessionPath,
    SessionRef,
    SessionSummary,
    Turn,
)
from gateway_edge.calls import call_service
from gateway_edge.errors import EdgeError
from gateway_edge.replay import ClientGone, ReplayRequest, replay_session
from gateway_edge.state import EdgeState

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


class ReplayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    # Replay the conversation up to this turn, or up to this branch's head;
    # without either, up to the session's newest turn.
    turn_id: str | None = None
    branch_id: str | None = None


def _project(request: Request) -> tuple[EdgeState, str]:
    state, credential = _caller(request)
    return state, credential.project_id or ""


def _caller(request: Request) -> tuple[EdgeState, CredentialRecord]:
    state: EdgeState = request.app.state.edge
    return state, state.auth.api_key(request.headers.get("authorization"))


@router.get("", summary="List the project's sessions, the most recently updated first")
async def list_sessions(
    request: Request,
    limit: int = Query(default=20, ge=1, le=100, description="Sessions per page"),
    after: str | None = Query(default=None, description="The last session id of the previous page"),
) -> JSONResponse:
    state, project_id = _project(request)
    query = SessionListRequest(project_id=project_id, limit=limit, after=after)
    page = await call_service(state, "sessions", bus.SESSIONS_LIST, query, SessionList)
    data = [session_object(summary) for summary in page.data]
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": page.has_more,
        }
    )


@router.get("/{session_id}", summary="Get a session with its turns and branches")
async def get_session(session_id: str, request: Request) -> JSONResponse:
    state, project_id = _project(request)
    detail = await _detail(state, project_id, session_id)
    return JSONResponse(
        {
            **session_object(detail),
            "turns": [turn_object(turn) for turn in detail.turns],
            "branches": [branch_object(branch) for branch in detail.branches],
        }
    )


@router.delete("/{session_id}", summary="Delete a session and its history")
async def delete_session(session_id: str, request: Request) -> JSONResponse:
    state, project_id = _project(request)
    ref = SessionRef(project_id=project_id, session_id=session_id)
    deleted = await call_service(state, "sessions", bus.SESSIONS_DELETE, ref, SessionDeleted)
    return JSONResponse(
        {"id": deleted.id, "object": "session.deleted", "deleted": True, "deleted_turns": deleted.deleted_turns}
    )


@router.get("/{session_id}/branches", summary="List a session's branches")
async def list_branches(session_id: str, request: Request) -> JSONResponse:
    state, project_id = _project(request)
    detail = await _detail(state, project_id, session_id)
    return JSONResponse({"object": "list", "data": [branch_object(branch) for branch in detail.branches]})


@router.get("/{session_id}/branches/{branch_id}", summary="Read one branch as a conversation")
async def get_branch(session_id: str, branch_id: str, request: Request) -> JSONResponse:
    state, project_id = _project(request)
    detail = await _detail(state, project_id, session_id)
    branch = next((branch for branch in detail.branches if branch.id == branch_id), None)
    if branch is None:
        raise EdgeError("not_found", f"The session `{session_id}` has no branch `{branch_id}`.", param="branch_id")
    path_request = PathRequest(project_id=project_id, session_id=session_id, turn_id=branch.head_turn_id)
    path = await call_service(state, "sessions", bus.SESSIONS_PATH, path_request, SessionPath)
    return JSONResponse(
        {
            **branch_object(branch),
            "turns": [turn_object(turn) for turn in path.turns],
            "messages": context_messages(path.turns),
        }
    )


@router.get("/{session_id}/export", summary="Export a session as one JSON document")
async def export_session(session_id: str, request: Request) -> JSONResponse:
    state, project_id = _project(request)
    detail = await _detail(state, project_id, session_id)
    by_id = {turn.id: turn for turn in detail.turns}
    branches = []
    for branch in detail.branches:
        path = _path_to(by_id, branch.head_turn_id)
        branches.append({**branch_object(branch), "messages": context_messages(path)})
    return JSONResponse(
        {
            "object": "session.export",
            "version": 1,
            "exported_at": int(datetime.now(UTC).timestamp()),
            "session": session_object(detail),
            "turns": [turn_object(turn) for turn in detail.turns],
            "branches": branches,
        },
        headers={"content-disposition": f'attachment; filename="session-{session_id}.json"'},
    )


@router.post("/{session_id}/replay", summary="Replay a session or branch against another model, as a new branch")
async def replay(session_id: str, request: Request) -> Response:
    state, credential = _caller(request)
    body = _replay_body(await request.body())
    if body.turn_id is not None and body.branch_id is not None:
        raise EdgeError("invalid_request", "Send `turn_id` or `branch_id`, not both.", param="branch_id")
    replay = ReplayRequest(session_id=session_id, model=body.model, turn_id=body.turn_id, branch_id=body.branch_id)
    try:
        result = await replay_session(state, credential, replay, request.receive)
    except ClientGone:
        # The client is gone, so no response is read. The turns replayed so far stay in the session.
        return Response(status_code=499)
    return JSONResponse(
        {
            "object": "session.replay",
            "session_id": session_id,
            "model": body.model,
            "source_turn_id": result.source_turn_id,
            "branch": branch_object(result.branch),
            "turns": [turn_object(turn) for turn in result.turns],
            "completed": result.stopped_reason is None,
            "stopped_reason": result.stopped_reason,
        },
        status_code=201,
    )


async def _detail(state: EdgeState, project_id: str, session_id: str) -> SessionDetail:
    ref = SessionRef(project_id=project_id, session_id=session_id)
    return await call_service(state, "sessions", bus.SESSIONS_GET, ref, SessionDetail)


def _replay_body(raw: bytes) -> ReplayBody:
    try:
        return ReplayBody.model_validate_json(raw or b"{}")
    except ValidationError as error:
        if error.errors()[0]["type"] == "json_invalid":
            raise EdgeError("invalid_json", "The request body is not valid JSON.") from None
        problem = describe_validation_error(error)
        raise EdgeError("invalid_request", problem.message, param=problem.param) from None


def _path_to(by_id: dict[str, Turn], head: str) -> list[Turn]:
    """Return the turns from the session's first turn to `head`, following `parent_turn_id`."""
    path: list[Turn] = []
    current: str | None = head
    while current is not None and current in by_id and len(path) <= len(by_id):
        path.append(by_id[current])
        current = by_id[current].parent_turn_id
    path.reverse()
    return path


def context_messages(turns: list[Turn]) -> list[dict[str, Any]]:
    """Return the messages that a request continuing after the last of `turns` sends upstream."""
    messages = [turn.message for turn in turns if turn.in_context]
    while messages and messages[0].get("role") == "tool":
        messages.pop(0)
    return messages


def _timestamp(moment: datetime) -> int:
    return int(moment.timestamp())


def session_object(summary: SessionSummary) -> dict[str, Any]:
    return {
        "id": summary.id,
        "object": "session",
        "created_at": _timestamp(summary.created_at),
        "updated_at": _timestamp(summary.updated_at),
        "head_turn_id": summary.head_turn_id,
        "turn_count": summary.turn_count,
        "branch_count": summary.branch_count,
    }


def turn_object(turn: Turn) -> dict[str, Any]:
    return {
        "id": turn.id,
        "object": "session.turn",
        "parent_turn_id": turn.parent_turn_id,
        "branch_id": turn.branch_id,
        "role": turn.role,
        "content": turn.message.get("content"),
        # The whole message as later requests send it upstream, with tool
        # calls, reasoning and thinking blocks where the reply had them.
        "message": turn.message,
        "request_id": turn.request_id,
        "model": turn.model,
        "status": turn.status,
        "in_context": turn.in_context,
        "created_at": _timestamp(turn.created_at),
        "request_options": turn.request_options,
    }


def branch_object(branch: Branch) -> dict[str, Any]:
    return {
        "id": branch.id,
        "object": "session.branch",
        "head_turn_id": branch.head_turn_id,
        "base_turn_id": branch.base_turn_id,
        "turn_count": branch.turn_count,
        "model": branch.model,
        "created_at": _timestamp(branch.created_at),
        "updated_at": _timestamp(branch.updated_at),
    }
