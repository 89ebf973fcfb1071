"""Storing session events as turns, one session at a time and in stream order.

Every write to a session happens in a transaction that holds the session's
advisory lock, reads how far the session's events are stored
(`last_event_seq`), stores the ones after it from the stream, and moves the
mark. The consumer, or a history read that found an event unstored,
therefore stores the session's earlier events first, and a redelivered event
finds its sequence already passed. Turn ids are stable across redeliveries
as well, so an event is never stored twice. `sessions.store_turns` in
`schema.sql` stores one event's turns and decides where they attach in the
tree.
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
from gateway_sessions.announcements import StoredTurns, read_stored_turns
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
        # The lock comes first, in a statement of its own: under READ
        # COMMITTED the next statement's snapshot then sees what the previous
        # holder committed.
        await lock_session(connection, project_id, session_id)
        state = await connection.fetchrow(
            """
            SELECT
                (SELECT last_event_seq FROM sessions.sessions WHERE project_id = $1 AND id = $2) AS stored_seq,
                (SELECT deleted_at FROM sessions.deleted_sessions WHERE project_id = $1 AND session_id = $2)
                    AS deleted_at
            """,
            project_id,
            session_id,
        )
        stored_seq = state["stored_seq"] or 0
        if received is not None and received.seq <= stored_seq:
            return 0

        pending: list[tuple[int, SessionTurnsEvent | None]] = []
        before = received.seq if received is not None else None
        async for seq, event in log.after(project_id, session_id, stored_seq, before):
            pending.append((seq, event))
        if received is not None:
            pending.append((received.seq, received.event))

        added = 0
        skipped_seq = 0
        stored: list[StoredTurns] = []
        for seq, event in pending:
            if event is None or not event.turns or not _survives(event, state["deleted_at"]):
                skipped_seq = seq
                continue
            added_now = await _store_event(connection, seq, event)
            added += added_now
            if added_now and log.announcer is not None:
                stored.append(await read_stored_turns(connection, event))
        if skipped_seq:
            await connection.execute(
                """
                UPDATE sessions.sessions SET last_event_seq = greatest(last_event_seq, $3)
                WHERE project_id = $1 AND id = $2
                """,
                project_id,
                session_id,
                skipped_seq,
            )
    if stored and log.announcer is not None:
        await log.announcer.turns_appended(stored)
    return added


async def lock_session(connection: asyncpg.Connection, project_id: str, session_id: str) -> None:
    """Hold the session's lock until the transaction ends; writes to one session take turns."""
    await connection.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || ' ' || $2, 0))", project_id, session_id
    )


async def newest_event(log: EventLog, project_id: str, session_id: str) -> int | None:
    """Return the stream sequence of the session's newest event, or None when the stream cannot be reached.

    Without the stream, the turns stored in PostgreSQL are the best available
    result, and the consumer stores the rest once the stream is back.
    """
    try:
        return await log.last_seq(project_id, session_id)
    except NatsError:
        logger.warning(
            "Could not read the newest event of session %s; returning the turns stored in PostgreSQL",
            session_id,
            exc_info=True,
        )
        return None


async def catch_up(
    pool: asyncpg.Pool, log: EventLog, project_id: str, session_id: str, stored_seq: int, newest_seq: int | None
) -> bool:
    """Store the session's events that the consumer has not stored yet; returns whether there were any.

    `stored_seq` is the session's `last_event_seq` and `newest_seq` the
    stream sequence of its newest event, as the caller read them.
    """
    if newest_seq is None or newest_seq <= stored_seq:
        return False
    try:
        await store_pending(pool, log, project_id, session_id)
    except NatsError:
        logger.warning("Could not store the unstored events of session %s", session_id, exc_info=True)
        return False
    return True


def _survives(event: SessionTurnsEvent, deleted_at: datetime | None) -> bool:
    """Return whether the event's request started after the session was last deleted."""
    return deleted_at is None or event.started_at > deleted_at


async def _store_event(connection: asyncpg.Connection, seq: int, event: SessionTurnsEvent) -> int:
    # A failed request, or one cancelled before any output, is kept for the
    # record. The client saw no reply, so later requests do not send it.
    in_context = event.status == "ok" or (event.status == "cancelled" and event.includes_reply)
    added: int = await connection.fetchval(
        "SELECT sessions.store_turns($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        event.project_id,
        event.session_id,
        seq,
        event.request_id,
        event.model,
        event.status,
        event.parent_turn_id,
        in_context,
        event.completed_at,
        [turn.turn_id for turn in event.turns],
        [turn.role for turn in event.turns],
        [orjson.dumps(turn.message).decode() for turn in event.turns],
        [estimate_message_tokens(turn.message) for turn in event.turns],
        orjson.dumps(event.options).decode() if event.includes_reply else None,
    )
    return added
