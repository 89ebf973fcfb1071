"""Per-project retention: turns older than a project's setting are deleted.

The sweep runs at start, every `GATEWAY_SESSIONS_RETENTION_INTERVAL` seconds,
and for one project at once when its setting changes. A turn whose parent is
deleted keeps its place with no parent, so the conversation then starts
later. A session left without turns is deleted with a tombstone, as
`DELETE /v1/sessions/{id}` does, so that its old events in the stream cannot
bring it back.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from gateway_contracts import bus
from gateway_contracts.sessions import RetentionApplied, RetentionRef, RetentionSetting

logger = logging.getLogger("gateway_sessions.retention")

# A tombstone must outlive every event of its session that the stream can
# still hold, and a request that was running when the session was deleted.
_TOMBSTONE_SECONDS = bus.SESSION_STREAM.max_age_seconds + 24 * 3600


class Retention:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, request: RetentionRef) -> RetentionSetting:
        days = await self._pool.fetchval(
            "SELECT days FROM sessions.retention WHERE project_id = $1", request.project_id
        )
        return RetentionSetting(project_id=request.project_id, days=days)

    async def set(self, request: RetentionSetting) -> RetentionApplied:
        """Store the setting and apply it at once."""
        if request.days is None:
            await self._pool.execute("DELETE FROM sessions.retention WHERE project_id = $1", request.project_id)
            return RetentionApplied(project_id=request.project_id, days=None)
        await self._pool.execute(
            """
            INSERT INTO sessions.retention (project_id, days) VALUES ($1, $2)
            ON CONFLICT (project_id) DO UPDATE SET days = EXCLUDED.days
            """,
            request.project_id,
            request.days,
        )
        deleted = await self.sweep(request.project_id)
        return RetentionApplied(project_id=request.project_id, days=request.days, deleted_turns=deleted)

    async def sweep(self, project_id: str | None = None) -> int:
        """Delete the turns past their project's retention, of one project or all; returns how many."""
        async with self._pool.acquire() as connection, connection.transaction():
            expired = await connection.fetch(
                """
                DELETE FROM sessions.turns t USING sessions.retention r
                WHERE t.project_id = r.project_id AND ($1::text IS NULL OR r.project_id = $1)
                  AND t.created_at < now() - make_interval(days => r.days)
                RETURNING t.project_id, t.session_id
                """,
                project_id,
            )
            emptied = {(row["project_id"], row["session_id"]) for row in expired}
            await connection.executemany(
                """
                WITH gone AS (
                    DELETE FROM sessions.sessions s WHERE s.project_id = $1 AND s.id = $2
                      AND NOT EXISTS (SELECT FROM sessions.turns t WHERE t.project_id = $1 AND t.session_id = $2)
                    RETURNING s.project_id, s.id
                )
                INSERT INTO sessions.deleted_sessions (project_id, session_id, deleted_at)
                SELECT project_id, id, now() FROM gone
                ON CONFLICT (project_id, session_id) DO UPDATE SET deleted_at = EXCLUDED.deleted_at
                """,
                sorted(emptied),
            )
            await connection.execute(
                "DELETE FROM sessions.deleted_sessions WHERE deleted_at < now() - make_interval(secs => $1)",
                float(_TOMBSTONE_SECONDS),
            )
        if expired:
            logger.info("Retention deleted %d turns in %d sessions", len(expired), len(emptied))
        return len(expired)

    async def run(self, interval_seconds: float, stop: asyncio.Event) -> None:
        """Sweep every `interval_seconds` until `stop` is set."""
        while not stop.is_set():
            try:
                await self.sweep()
            except (OSError, asyncpg.PostgresError):
                logger.error("The retention sweep failed; retrying in %.0f s", interval_seconds, exc_info=True)
            try:
                await asyncio.wait_for(stop.wait(), interval_seconds)
            except TimeoutError:
                pass
