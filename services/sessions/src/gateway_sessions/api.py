"""The calls behind `/v1/sessions`: list, read, read a branch, delete.

Every call is scoped to the caller's project. A session of another project
gets the same reply as one that does not exist, so a key cannot even learn
whether another project uses a session id.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from nats.errors import Error as NatsError

from gateway_contracts.rpc import RpcError
from gateway_contracts.rpc_nats import RpcRejected
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
from gateway_sessions.events import EventLog
from gateway_sessions.paths import PATH_CTES
from gateway_sessions.store import catch_up, lock_session, newest_event

logger = logging.getLogger("gateway_sessions.api")

# Seconds a listing waits for the turns consumer to store the events already
# in the stream, so that a session that just got a reply is listed with it.
_SETTLE_SECONDS = 2.0

_TURN_COLUMNS = """
    t.id::text, t.parent_turn_id::text, t.branch_id::text, t.role, t.message::text,
    t.request_id, t.model, t.status, t.in_context, t.created_at, t.request_options::text
"""

_SUMMARY_SQL = """
SELECT s.id, s.created_at, s.updated_at, s.last_event_seq,
    (SELECT count(*) FROM sessions.turns t WHERE t.project_id = s.project_id AND t.session_id = s.id) AS turn_count,
    (SELECT count(DISTINCT branch_id) FROM sessions.turns t
     WHERE t.project_id = s.project_id AND t.session_id = s.id) AS branch_count,
    (SELECT id::text FROM sessions.turns t WHERE t.project_id = s.project_id AND t.session_id = s.id
     ORDER BY seq DESC LIMIT 1) AS head_turn_id
FROM sessions.sessions s
"""


class SessionsApi:
    def __init__(self, pool: asyncpg.Pool, log: EventLog) -> None:
        self._pool = pool
        self._log = log

    async def list(self, request: SessionListRequest) -> SessionList:
        """Return the project's sessions, the most recently updated first."""
        try:
            await self._log.settle(_SETTLE_SECONDS)
        except NatsError:
            logger.warning("Could not check the turns consumer; listing the stored sessions", exc_info=True)
        cursor = None
        if request.after is not None:
            cursor = await self._pool.fetchrow(
                "SELECT updated_at, id FROM sessions.sessions WHERE project_id = $1 AND id = $2",
                request.project_id,
                request.after,
            )
            if cursor is None:
                raise _not_found(request.after)
        rows = await self._pool.fetch(
            _SUMMARY_SQL
            + """
            WHERE s.project_id = $1 AND ($2::timestamptz IS NULL OR (s.updated_at, s.id) < ($2, $3))
            ORDER BY s.updated_at DESC, s.id DESC LIMIT $4
            """,
            request.project_id,
            cursor["updated_at"] if cursor else None,
            cursor["id"] if cursor else None,
            request.limit + 1,
        )
        return SessionList(data=[_summary(row) for row in rows[: request.limit]], has_more=len(rows) > request.limit)

    async def get(self, request: SessionRef) -> SessionDetail:
        """Return the session with every turn in the order they were stored, and its branches."""
        summary = await self._summary(request)
        rows = await self._pool.fetch(
            f"SELECT {_TURN_COLUMNS} FROM sessions.turns t"
            " WHERE t.project_id = $1 AND t.session_id = $2 ORDER BY t.seq",
            request.project_id,
            request.session_id,
        )
        turns = [_turn(row) for row in rows]
        return SessionDetail(**summary.model_dump(), turns=turns, branches=branches_of(turns))

    async def path(self, request: PathRequest) -> SessionPath:
        """Return the turns from the session's first turn to the named turn, the branch's head or the session's head."""
        await self._summary(request)
        start = await self._start_of(request)
        rows = await self._pool.fetch(
            f"WITH RECURSIVE {PATH_CTES} SELECT {_TURN_COLUMNS} FROM path t ORDER BY t.seq",
            request.project_id,
            request.session_id,
            start,
        )
        return SessionPath(session_id=request.session_id, turns=[_turn(row) for row in rows])

    async def delete(self, request: SessionRef) -> SessionDeleted:
        """Delete the session's turns, and its events from the stream, so that no message content is left."""
        await self._summary(request)
        async with self._pool.acquire() as connection, connection.transaction():
            await lock_session(connection, request.project_id, request.session_id)
            deleted_turns = await connection.fetchval(
                "SELECT count(*) FROM sessions.turns WHERE project_id = $1 AND session_id = $2",
                request.project_id,
                request.session_id,
            )
            await connection.execute(
                "DELETE FROM sessions.sessions WHERE project_id = $1 AND id = $2",
                request.project_id,
                request.session_id,
            )
            await connection.execute(
                """
                INSERT INTO sessions.deleted_sessions (project_id, session_id, deleted_at) VALUES ($1, $2, now())
                ON CONFLICT (project_id, session_id) DO UPDATE SET deleted_at = EXCLUDED.deleted_at
                """,
                request.project_id,
                request.session_id,
            )
        await self._log.purge(request.project_id, request.session_id)
        if self._log.announcer is not None:
            await self._log.announcer.session_deleted(
                request.project_id, request.session_id, int(deleted_turns), datetime.now(UTC)
            )
        return SessionDeleted(id=request.session_id, deleted_turns=int(deleted_turns))

    async def _summary(self, request: SessionRef) -> SessionSummary:
        """Return the session after storing its unstored events, or raise `not_found`."""
        query = _SUMMARY_SQL + " WHERE s.project_id = $1 AND s.id = $2"
        row, newest_seq = await asyncio.gather(
            self._pool.fetchrow(query, request.project_id, request.session_id),
            newest_event(self._log, request.project_id, request.session_id),
        )
        stored_seq = row["last_event_seq"] if row is not None else 0
        if await catch_up(self._pool, self._log, request.project_id, request.session_id, stored_seq, newest_seq):
            row = await self._pool.fetchrow(query, request.project_id, request.session_id)
        if row is None:
            raise _not_found(request.session_id)
        return _summary(row)

    async def _start_of(self, request: PathRequest) -> uuid.UUID:
        """Return the id of the turn a path read ends at."""
        if request.turn_id is not None:
            start = await self._pool.fetchval(
                "SELECT id FROM sessions.turns WHERE project_id = $1 AND session_id = $2 AND id = $3",
                request.project_id,
                request.session_id,
                _as_uuid(request.turn_id),
            )
            what = f"turn `{request.turn_id}`"
        else:
            start = await self._pool.fetchval(
                """
                SELECT id FROM sessions.turns
                WHERE project_id = $1 AND session_id = $2 AND ($3::uuid IS NULL OR branch_id = $3::uuid)
                ORDER BY seq DESC LIMIT 1
                """,
                request.project_id,
                request.session_id,
                _as_uuid(request.branch_id),
            )
            what = f"branch `{request.branch_id}`"
        if start is None:
            raise RpcRejected(RpcError(code="not_found", message=f"The session `{request.session_id}` has no {what}."))
        return start


def branches_of(turns: list[Turn]) -> list[Branch]:
    """Group turns, in the order they were stored, into their branches."""
    grouped: dict[str, list[Turn]] = {}
    for turn in turns:
        grouped.setdefault(turn.branch_id, []).append(turn)
    return [
        Branch(
            id=branch_id,
            head_turn_id=members[-1].id,
            base_turn_id=members[0].parent_turn_id,
            turn_count=len(members),
            model=members[-1].model,
            created_at=members[0].created_at,
            updated_at=members[-1].created_at,
        )
        for branch_id, members in grouped.items()
    ]


def _summary(row: asyncpg.Record) -> SessionSummary:
    return SessionSummary(
        id=row["id"],
        head_turn_id=row["head_turn_id"],
        turn_count=row["turn_count"],
        branch_count=row["branch_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _turn(row: asyncpg.Record) -> Turn:
    message: dict[str, Any] = orjson.loads(row["message"])
    return Turn(
        id=row["id"],
        parent_turn_id=row["parent_turn_id"],
        branch_id=row["branch_id"],
        role=row["role"],
        message=message,
        request_id=row["request_id"],
        model=row["model"],
        status=row["status"],
        in_context=row["in_context"],
        created_at=row["created_at"],
        request_options=orjson.loads(row["request_options"]) if row["request_options"] is not None else None,
    )


def _as_uuid(value: str | None) -> uuid.UUID | None:
    """Parse a turn or branch id; a value that is not a UUID becomes the nil UUID, which matches no turn."""
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return uuid.UUID(int=0)


def _not_found(session_id: str) -> RpcRejected:
    return RpcRejected(RpcError(code="not_found", message=f"There is no session `{session_id}` in this project."))
