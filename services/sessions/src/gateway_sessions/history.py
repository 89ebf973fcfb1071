"""Reading and appending a session's turns."""

from __future__ import annotations

import asyncpg
import orjson

from gateway_contracts import SessionTurnsEvent
from gateway_contracts.rpc import HistoryReply, HistoryRequest


async def read_history(pool: asyncpg.Pool, request: HistoryRequest) -> HistoryReply:
    """Return the session's messages in append order; a session of another project reads as empty."""
    rows = await pool.fetch(
        """
        SELECT message::text FROM sessions.turns
        WHERE project_id = $1 AND session_id = $2
        ORDER BY seq
        """,
        request.project_id,
        request.session_id,
    )
    return HistoryReply(messages=[orjson.loads(row[0]) for row in rows])


async def append_turns(pool: asyncpg.Pool, event: SessionTurnsEvent) -> int:
    """Store the event's turns once each; returns how many were new."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            """
            INSERT INTO sessions.sessions (project_id, id) VALUES ($1, $2)
            ON CONFLICT (project_id, id) DO UPDATE SET updated_at = now()
            """,
            event.project_id,
            event.session_id,
        )
        inserted = await connection.fetchval(
            """
            WITH rows AS (
                INSERT INTO sessions.turns (id, project_id, session_id, role, message, request_id, status)
                SELECT t.id, $2, $3, t.role, t.message::jsonb, $4, $5
                FROM unnest($1::uuid[], $6::text[], $7::text[]) WITH ORDINALITY AS t(id, role, message, position)
                ORDER BY t.position
                ON CONFLICT (id) DO NOTHING
                RETURNING 1
            )
            SELECT count(*) FROM rows
            """,
            [turn.turn_id for turn in event.turns],
            event.project_id,
            event.session_id,
            event.request_id,
            event.status,
            [turn.role for turn in event.turns],
            [orjson.dumps(turn.message).decode() for turn in event.turns],
        )
    return int(inserted)
