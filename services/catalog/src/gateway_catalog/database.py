"""The PostgreSQL pool and the catalog schema."""

from __future__ import annotations

from importlib.resources import files

import asyncpg

from gateway_catalog.settings import CatalogSettings

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


async def prepare_schema(pool: asyncpg.Pool, migrate_on_start: bool) -> None:
    """Apply the schema, or, when migrations run apart from the service, make sure they did."""
    if migrate_on_start:
        await apply_schema(pool)
        return
    # The schema file runs in one transaction, so the schema exists only once the whole file was applied.
    async with pool.acquire() as connection:
        exists = await connection.fetchval("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", "catalog")
    if not exists:
        raise SystemExit(
            "PostgreSQL schema `catalog` does not exist and GATEWAY_MIGRATE_ON_START is false; "
            "run `gateway migrate catalog` against this DATABASE_URL first."
        )


async def migrate() -> None:
    """Apply the catalog schema to `DATABASE_URL` for `gateway migrate catalog`."""
    pool = await connect(CatalogSettings().database_url)
    try:
        await apply_schema(pool)
    finally:
        await pool.close()
