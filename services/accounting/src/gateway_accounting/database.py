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
