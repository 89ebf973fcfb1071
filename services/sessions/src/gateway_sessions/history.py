"""History reads: the messages that a request on a session continues.

A read first stores any of the session's events that the stream contains and
PostgreSQL does not yet (see `store.py`). The router puts a request's event
in the stream before the client receives the end of the reply, so a client
that sends its next message at once still finds that reply in the history.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import orjson

from gateway_contracts.rpc import HistoryReply, HistoryRequest, RpcError
from gateway_contracts.rpc_nats import RpcRejected
from gateway_sessions.events import EventLog
from gateway_sessions.paths import PATH_CTES
from gateway_sessions.store import catch_up, newest_event

# The path from the session's first turn to a turn: $3 names the turn, NULL
# means the session's newest one. The first row carries the session's stored
# event sequence and whether the turn exists, so that one round trip returns
# everything a read needs.
_HISTORY_SQL = f"""
WITH RECURSIVE {PATH_CTES}
SELECT
    (SELECT last_event_seq FROM sessions.sessions WHERE project_id = $1 AND id = $2) AS stored_seq,
    (SELECT id::text FROM start) AS head,
    context.messages, context.tokens, context.roles
FROM (
    -- One query level, so that the three aggregates share one sort.
    SELECT coalesce(json_agg(message ORDER BY seq), '[]')::text AS messages,
           coalesce(array_agg(tokens ORDER BY seq), '{{}}') AS tokens,
           coalesce(array_agg(role ORDER BY seq), '{{}}') AS roles
    FROM path WHERE in_context
) AS context
"""


async def read_history(pool: asyncpg.Pool, log: EventLog, request: HistoryRequest) -> HistoryReply:
    """Return the in-context messages from the session's first turn to the requested turn or its newest one.

    A session of another project reads as empty, as a new session does, and
    a `parent_turn_id` that is not a turn of this session is `not_found`.
    """
    parent = _parse_turn_id(request.parent_turn_id)
    if parent is not None:
        # Unstored events only add turns, so they cannot change the path to
        # a turn that is stored already: the stream is asked only when the
        # turn is not stored (yet).
        row = await _read(pool, request, parent)
        newest_seq = await newest_event(log, request.project_id, request.session_id) if row["head"] is None else 0
    else:
        # The newest turn may be in an unstored event: ask both at once.
        row, newest_seq = await asyncio.gather(
            _read(pool, request, None), newest_event(log, request.project_id, request.session_id)
        )
    if await catch_up(pool, log, request.project_id, request.session_id, row["stored_seq"] or 0, newest_seq):
        row = await _read(pool, request, parent)

    if parent is not None and row["head"] is None:
        raise RpcRejected(
            RpcError(
                code="not_found",
                message=f"The session `{request.session_id}` has no turn `{request.parent_turn_id}`.",
                param="parent_turn_id",
            )
        )
    messages = orjson.loads(row["messages"])
    tokens = list(row["tokens"])
    # When the retention setting deleted a turn's ancestors, a tool result may
    # come first, and providers reject a tool result without its tool call.
    skip = 0
    while skip < len(messages) and row["roles"][skip] == "tool":
        skip += 1
    return HistoryReply(messages=messages[skip:], tokens=tokens[skip:], head_turn_id=row["head"])


async def _read(pool: asyncpg.Pool, request: HistoryRequest, parent: uuid.UUID | None) -> asyncpg.Record:
    row: asyncpg.Record = await pool.fetchrow(_HISTORY_SQL, request.project_id, request.session_id, parent)
    return row


def _parse_turn_id(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise RpcRejected(
            RpcError(code="not_found", message=f"There is no turn `{value}`.", param="parent_turn_id")
        ) from None
