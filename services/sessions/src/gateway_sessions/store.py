"""Storing session events as turns, one session at a time and in stream order.

Every write to a session happens in a transaction that holds the session's
advisory lock, reads how far the session's events are stored
(`last_event_seq`), stores the ones after it from the stream, and moves the
mark. Whoever stores an event (the consumer, or a history read that found it
unstored) therefore stores the session's earlier events first, and a
redelivered event finds its sequence already passed. Turn ids are stable
across redeliveries as well, so an event is never stored twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson
from nats.errors import Error as NatsError

from gateway_contracts import SessionTurnsEvent
from gateway_contracts.tokens import estimate_message_tokens
from gateway_sessions.events import EventLog

logger = logging.getLogger("gateway_sessions.store")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event in hand with its stream sequence, as the consumer received it."""

    seq: int
    event: SessionTurnsEvent


async def store_pending(
    pool: asyncpg.Pool, log: EventLog, project_id: str, session_id: str, received: StoredEvent | None = None
) -> int:
    """Store the session's events up to and including `received` (or all of them); returns the turns added."""
    async with pool.acquire() as connection, connection.transaction():
        await lock_session(connection, project_id, session_id)
        stored_seq = await connection.fetchval(
            "SELECT last_event_seq FROM sessions.sessions WHERE project_id = $1 AND id = $2", project_id, session_id
        )
        stored_seq = stored_seq or 0
        if received is not None and received.seq <= stored_seq:
            return 0
        deleted_at = await connection.fetchval(
            "SELECT deleted_at FROM sessions.deleted_sessions WHERE project_id = $1 AND session_id = $2",
            project_id,
            session_id,
        )

        added = 0
        before = received.seq if received is not None else None
        async for seq, event in log.after(project_id, session_id, stored_seq, before):
            if event is not None and _survives(event, deleted_at):
                added += await _store_event(connection, event)
            stored_seq = seq
        if received is not None:
            if _survives(received.event, deleted_at):
                added += await _store_event(connection, received.event)
            stored_seq = received.seq

        await connection.execute(
            """
            UPDATE sessions.sessions SET last_event_seq = greatest(last_event_seq, $3)
            WHERE project_id = $1 AND id = $2
            """,
            project_id,
            session_id,
            stored_seq,
        )
    return added


async def lock_session(connection: asyncpg.Connection, project_id: str, session_id: str) -> None:
    """Hold the session's lock until the transaction ends; writes to one session take turns."""
    await connection.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || ' ' || $2, 0))", project_id, session_id
    )


async def catch_up(pool: asyncpg.Pool, log: EventLog, project_id: str, session_id: str, stored_seq: int) -> bool:
    """Store the session's events that the consumer has not stored yet; returns whether there were any.

    `stored_seq` is the session's `last_event_seq` as the caller read it.
    When the stream cannot be reached, the stored turns are the best answer
    and the consumer stores the rest later.
    """
    try:
        if not await log.has_after(project_id, session_id, stored_seq):
            return False
        await store_pending(pool, log, project_id, session_id)
    except NatsError:
        logger.warning(
            "Could not read the unstored events of session %s; answering from PostgreSQL alone",
            session_id,
            exc_info=True,
        )
        return False
    return True


def _survives(event: SessionTurnsEvent, deleted_at: datetime | None) -> bool:
    """Whether the event's request started after the session was last deleted."""
    return deleted_at is None or event.started_at > deleted_at


async def _store_event(connection: asyncpg.Connection, event: SessionTurnsEvent) -> int:
    ids = [str(turn.turn_id) for turn in event.turns]
    if not ids:
        return 0
    if await connection.fetchval("SELECT EXISTS (SELECT FROM sessions.turns WHERE id = ANY($1::uuid[]))", ids):
        return 0

    await connection.execute(
        """
        INSERT INTO sessions.sessions (project_id, id, created_at, updated_at) VALUES ($1, $2, $3, $3)
        ON CONFLICT (project_id, id) DO UPDATE SET updated_at = greatest(sessions.updated_at, EXCLUDED.updated_at)
        """,
        event.project_id,
        event.session_id,
        event.completed_at,
    )
    parent, branch = await _attach_point(connection, event)
    # A failed request, or one cancelled before any output, is kept for the
    # record; the client saw no reply, so later requests do not send it.
    in_context = event.status == "ok" or (event.status == "cancelled" and event.includes_reply)
    await connection.execute(
        """
        INSERT INTO sessions.turns (
            id, project_id, session_id, parent_turn_id, branch_id, role, message,
            request_id, status, model, in_context, tokens, created_at
        )
        SELECT t.id, $2, $3, t.parent, $4, t.role, t.message::json, $5, $6, $7, $8, t.tokens, $9
        FROM unnest($1::uuid[], $10::uuid[], $11::text[], $12::text[], $13::int[])
            WITH ORDINALITY AS t(id, parent, role, message, tokens, position)
        ORDER BY t.position
        """,
        ids,
        event.project_id,
        event.session_id,
        branch or ids[0],
        event.request_id,
        event.status,
        event.model,
        in_context,
        event.completed_at,
        [parent, *ids[:-1]],
        [turn.role for turn in event.turns],
        [orjson.dumps(turn.message).decode() for turn in event.turns],
        [estimate_message_tokens(turn.message) for turn in event.turns],
    )
    return len(ids)


async def _attach_point(connection: asyncpg.Connection, event: SessionTurnsEvent) -> tuple[str | None, str | None]:
    """Return the turn the event's first turn follows, and the branch it joins (None for a new branch).

    Without `parent_turn_id` the turns follow the session's newest turn, which
    has no child yet, so they extend its branch. With one, they extend the
    parent's branch when the parent has no child yet, and start a branch
    otherwise. A named parent that is gone (deleted by the retention setting)
    leaves the turns without a parent.
    """
    if event.parent_turn_id is None:
        row = await connection.fetchrow(
            """
            SELECT id::text, branch_id::text FROM sessions.turns
            WHERE project_id = $1 AND session_id = $2 ORDER BY seq DESC LIMIT 1
            """,
            event.project_id,
            event.session_id,
        )
        return (row[0], row[1]) if row is not None else (None, None)

    row = await connection.fetchrow(
        """
        SELECT t.id::text, t.branch_id::text, EXISTS (SELECT FROM sessions.turns c WHERE c.parent_turn_id = t.id)
        FROM sessions.turns t
        WHERE t.id = $3::uuid AND t.project_id = $1 AND t.session_id = $2
        """,
        event.project_id,
        event.session_id,
        str(event.parent_turn_id),
    )
    if row is None:
        return None, None
    return row[0], None if row[2] else row[1]
