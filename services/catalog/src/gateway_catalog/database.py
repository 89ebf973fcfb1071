"""The PostgreSQL pool and the catalog schema."""

from __future__ import annotations

from importlib.resources import files

import asyncpg

# Any constant unique to this service: concurrent starts apply the schema one at a time.
_SCHEMA_LOCK = 0x67617465_03


async def connect(database_url: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=5)
    if pool is None:
        raise RuntimeError("asyncpg returned no pool")
    return pool


async def apply_schema(pool: asyncpg.Pool) -> None:
    sql = files("gateway_catalog").joinpath("schema.sql").read_text()
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await connection.execute(sql)
