"""The PostgreSQL pool and the sessions schema."""

from __future__ import annotations

import logging
from datetime import datetime
from importlib.resources import files

import asyncpg

from gateway_sessions.settings import SessionsSettings

logger = logging.getLogger("gateway_sessions.database")

# Any constant unique to this service: concurrent starts apply the schema one at a time.
_SCHEMA_LOCK = 0x67617465_02


async def connect(database_url: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    if pool is None:
        raise RuntimeError("asyncpg returned no pool")
    return pool


async def apply_schema(pool: asyncpg.Pool) -> None:
    sql = files("gateway_sessions").joinpath("schema.sql").read_text()
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await connection.execute(sql)


async def prepare_schema(pool: asyncpg.Pool, migrate_on_start: bool) -> None:
    """Apply the schema, or, when migrations run apart from the service, make sure they did."""
    if migrate_on_start:
        await apply_schema(pool)
        return
    # The schema file runs in one transaction, so the schema exists only once the whole file was applied.
    async with pool.acquire() as connection:
        exists = await connection.fetchval("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", "sessions")
    if not exists:
        raise SystemExit(
            "PostgreSQL schema `sessions` does not exist and GATEWAY_MIGRATE_ON_START is false; "
            "run `gateway migrate sessions` against this DATABASE_URL first."
        )


async def migrate() -> None:
    """Apply the sessions schema to `DATABASE_URL` for `gateway migrate sessions`."""
    pool = await connect(SessionsSettings().database_url)
    try:
        await apply_schema(pool)
    finally:
        await pool.close()


async def match_event_stream(pool: asyncpg.Pool, created_at: datetime | None) -> None:
    """Reset every session's `last_event_seq` when the event stream is not the one they count in.

    A stream created anew (its NATS storage was lost or deleted) numbers its
    messages from 1 again; without the reset its events would look stored.
    """
    if created_at is None:
        return
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        known = await connection.fetchval("SELECT created_at FROM sessions.event_stream")
        if known == created_at:
            return
        if known is not None:
            logger.warning("The session event stream was created anew; counting its events from the start")
            await connection.execute("UPDATE sessions.sessions SET last_event_seq = 0")
        await connection.execute(
            """
            INSERT INTO sessions.event_stream (created_at) VALUES ($1)
            ON CONFLICT (singleton) DO UPDATE SET created_at = EXCLUDED.created_at
            """,
            created_at,
        )
