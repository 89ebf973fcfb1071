"""The public events of the sessions service: a turn was appended, a session was deleted.

A turn event carries the message only when `GATEWAY_SESSIONS_EVENT_CONTENT`
is on; otherwise subscribers see which role wrote to which model, and when, but
not the content. Turn events go to one subject per session, which the
session's deletion purges together with its internal events.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from nats.js import JetStreamContext

from gateway_contracts import SessionTurnsEvent
from gateway_contracts.public_events import SessionDeleted, SessionTurnAppended
from gateway_contracts.publishing import build_event, publish_event
from gateway_contracts.sessions import session_turn_subject

logger = logging.getLogger("gateway_sessions.announcements")

_STORED_TURNS = """
SELECT id::text, parent_turn_id::text, branch_id::text, role, message::text
FROM sessions.turns WHERE project_id = $1 AND session_id = $2 AND id = ANY($3::uuid[])
"""


@dataclass(frozen=True, slots=True)
class StoredTurns:
    """The turns of one session event as PostgreSQL stored them, read in the storing transaction."""

    event: SessionTurnsEvent
    rows: list[asyncpg.Record]


async def read_stored_turns(connection: asyncpg.Connection, event: SessionTurnsEvent) -> StoredTurns:
    rows = await connection.fetch(
        _STORED_TURNS, event.project_id, event.session_id, [turn.turn_id for turn in event.turns]
    )
    return StoredTurns(event, list(rows))


class Announcer:
    def __init__(self, js: JetStreamContext, include_content: bool) -> None:
        self._js = js
        self._include_content = include_content

    async def turns_appended(self, stored: list[StoredTurns]) -> None:
        """Publish one event per stored turn; a failure is logged, because the turns are stored already."""
        for batch in stored:
            event = batch.event
            subject = session_turn_subject(event.project_id, event.session_id)
            for row in batch.rows:
                try:
                    await publish_event(self._js, self._turn_event(event, row), subject)
                except Exception:
                    logger.error(
                        "Publishing session.turn_appended for turn %s of request %s failed",
                        row["id"],
                        event.request_id,
                        exc_info=True,
                    )

    def _turn_event(self, event: SessionTurnsEvent, row: asyncpg.Record) -> SessionTurnAppended:
        message: dict[str, Any] | None = orjson.loads(row["message"]) if self._include_content else None
        return build_event(
            SessionTurnAppended,
            event_id=f"session.turn_appended:{row['id']}",
            request_id=event.request_id,
            project_id=event.project_id,
            occurred_at=event.completed_at,
            session_id=event.session_id,
            turn_id=row["id"],
            parent_turn_id=row["parent_turn_id"],
            branch_id=row["branch_id"],
            role=row["role"],
            model=event.model,
            status=event.status,
            message=message,
        )

    async def session_deleted(self, project_id: str, session_id: str, deleted_turns: int, at: datetime) -> None:
        event = build_event(
            SessionDeleted,
            event_id="",
            project_id=project_id,
            occurred_at=at,
            session_id=session_id,
            deleted_turns=deleted_turns,
        )
        event.event_id = f"session.deleted:{event.request_id}"
        try:
            await publish_event(self._js, event)
        except Exception:
            logger.error("Publishing session.deleted for session %s failed", session_id, exc_info=True)
