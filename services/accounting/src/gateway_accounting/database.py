"""The PostgreSQL pool and accounting's schema."""

from __future__ import annotations

from importlib.resources import files

import asyncpg

# Any constant unique to this service: concurrent starts apply the schema one at a time.
_SCHEMA_LOCK = 0x67617465_01


async def connect(database_url: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    if pool is None:
        raise RuntimeError("asyncpg returned no pool")
    return pool


async def apply_schema(pool: asyncpg.Pool) -> None:
    sql = files("gateway_accounting").joinpath("schema.sql").read_text()
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
        exists = await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", "accounting"
        )
    if not exists:
        raise SystemExit(
            "PostgreSQL schema `accounting` does not exist and GATEWAY_MIGRATE_ON_START is false; "
            "run `gateway migrate accounting` against this DATABASE_URL first."
        )
