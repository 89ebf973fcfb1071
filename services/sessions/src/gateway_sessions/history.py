"""History reads: the messages that a request on a session continues.

A read first stores any of the session's events that the stream holds and
PostgreSQL does not yet (see `store.py`). The router puts a request's event
in the stream before the client receives the end of the reply, so a client
that sends its next message at once still finds that reply in the history.
"""

from __future__ import annotations

import uuid

import asyncpg
import orjson

from gateway_contracts.rpc import HistoryReply, HistoryRequest, RpcError
from gateway_contracts.rpc_nats import RpcRejected
from gateway_sessions.events import EventLog
from gateway_sessions.store import catch_up

# The path from a turn to the session's first turn, walked by primary key.
# $3 names the turn to start from; NULL starts from the session's newest turn.
# The first row carries the session's stored event sequence and whether the
# start turn exists, so one round trip answers everything a read needs.
_HISTORY_SQL = """
WITH RECURSIVE
start AS (
    SELECT id FROM sessions.turns
    WHERE project_id = $1 AND session_id = $2 AND ($3::uuid IS NULL OR id = $3::uuid)
    ORDER BY seq DESC LIMIT 1
),
path AS (
    SELECT t.id, t.parent_turn_id, t.in_context, t.role, t.message, t.tokens, 0 AS depth
    FROM sessions.turns t JOIN start ON t.id = start.id
    UNION ALL
    SELECT t.id, t.parent_turn_id, t.in_context, t.role, t.message, t.tokens, path.depth + 1
    FROM sessions.turns t JOIN path ON t.id = path.parent_turn_id
    WHERE t.project_id = $1
)
SELECT
    (SELECT last_event_seq FROM sessions.sessions WHERE project_id = $1 AND id = $2) AS stored_seq,
    (SELECT id::text FROM start) AS head,
    coalesce((SELECT json_agg(message ORDER BY depth DESC) FROM path WHERE in_context), '[]')::text AS messages,
    coalesce((SELECT array_agg(tokens ORDER BY depth DESC) FROM path WHERE in_context), '{}') AS tokens,
    coalesce((SELECT array_agg(role ORDER BY depth DESC) FROM path WHERE in_context), '{}') AS roles
"""


async def read_history(pool: asyncpg.Pool, log: EventLog, request: HistoryRequest) -> HistoryReply:
    """Return the in-context messages from the session's first turn to the requested turn or its newest one.

    A session of another project reads as empty, as a new session does, and
    a `parent_turn_id` that is not a turn of this session is `not_found`.
    """
    parent = _parse_turn_id(request.parent_turn_id)
    row = await pool.fetchrow(_HISTORY_SQL, request.project_id, request.session_id, parent)
    if await catch_up(pool, log, request.project_id, request.session_id, row["stored_seq"] or 0):
        row = await pool.fetchrow(_HISTORY_SQL, request.project_id, request.session_id, parent)
    if request.parent_turn_id is not None and row["head"] is None:
        raise RpcRejected(
            RpcError(
                code="not_found",
                message=f"The session `{request.session_id}` has no turn `{request.parent_turn_id}`.",
            )
        )

    messages = orjson.loads(row["messages"])
    tokens = list(row["tokens"])
    # A turn whose ancestors the retention setting deleted may leave a tool
    # result first, which providers reject without the call it answers.
    skip = 0
    while skip < len(messages) and row["roles"][skip] == "tool":
        skip += 1
    return HistoryReply(messages=messages[skip:], tokens=tokens[skip:], head_turn_id=row["head"])


def _parse_turn_id(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise RpcRejected(RpcError(code="not_found", message=f"There is no turn `{value}`.")) from None
