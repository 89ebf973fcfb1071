"""The catalog in PostgreSQL and its publication to the catalog and alias KV buckets."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import asyncpg
import orjson
from nats.js.errors import NoKeysError
from nats.js.kv import KeyValue

from gateway_contracts import CatalogEntry, ModelAlias, catalog_key
from gateway_contracts.rpc import AdminModel

logger = logging.getLogger("gateway_catalog.store")

MODEL_COLUMNS = "id, entry::text AS entry, source, retired, created_at, updated_at"
ALIAS_COLUMNS = "alias, model_id AS model, updated_at"

# Taken exclusively while a replica publishes the whole catalog, and shared by
# every admin change, so that a replica starting up cannot publish a snapshot
# read before a change over the change itself.
_PUBLISH_LOCK = 0x67617465_04


def entry_json(entry: CatalogEntry) -> str:
    """Serialize the entry for its row, leaving out `created`, which the row's `created_at` gives."""
    return entry.model_dump_json(exclude={"created"})


def entry_from_row(row: asyncpg.Record) -> CatalogEntry:
    data = orjson.loads(row["entry"])
    data["created"] = int(row["created_at"].timestamp())
    return CatalogEntry.model_validate(data)


def admin_model_from_row(row: asyncpg.Record) -> AdminModel:
    return AdminModel(
        entry=entry_from_row(row), source=row["source"], retired=row["retired"], updated_at=row["updated_at"]
    )


async def load_file_entries(pool: asyncpg.Pool, entries: Sequence[CatalogEntry]) -> None:
    """Make the file's entries current and retire file entries that the file no longer lists.

    Rows that an admin changed (`source = 'admin'`) are left alone either way.
    """
    async with pool.acquire() as connection, connection.transaction():
        await connection.executemany(
            """
            INSERT INTO catalog.models (id, entry, source) VALUES ($1, $2::jsonb, 'file')
            ON CONFLICT (id) DO UPDATE SET entry = EXCLUDED.entry, retired = false, updated_at = now()
            WHERE catalog.models.source = 'file'
              AND (catalog.models.entry <> EXCLUDED.entry OR catalog.models.retired)
            """,
            [(entry.id, entry_json(entry)) for entry in entries],
        )
        dropped = await connection.fetch(
            """
            UPDATE catalog.models SET retired = true, updated_at = now()
            WHERE source = 'file' AND NOT retired AND id <> ALL($1::text[])
            RETURNING id
            """,
            [entry.id for entry in entries],
        )
    if dropped:
        logger.info("Retired %d models that the catalog file no longer lists", len(dropped))


async def lock_for_change(connection: asyncpg.Connection) -> None:
    """Hold off whole-catalog publications until this transaction ends."""
    await connection.execute("SELECT pg_advisory_xact_lock_shared($1)", _PUBLISH_LOCK)


async def publish_all(pool: asyncpg.Pool, models: KeyValue, aliases: KeyValue) -> None:
    """Make both buckets match PostgreSQL: live models and their aliases."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _PUBLISH_LOCK)
        rows = await connection.fetch(f"SELECT {MODEL_COLUMNS} FROM catalog.models WHERE NOT retired ORDER BY id")
        alias_rows = await connection.fetch(f"SELECT {ALIAS_COLUMNS} FROM catalog.aliases ORDER BY alias")

        entries = [entry_from_row(row) for row in rows]
        await _sync_bucket(
            models, {catalog_key(entry.id): entry.model_dump_json().encode() for entry in entries}, "models"
        )
        records = [ModelAlias.model_validate(dict(row)) for row in alias_rows]
        await _sync_bucket(aliases, {record.alias: record.model_dump_json().encode() for record in records}, "aliases")


async def publish_entry(bucket: KeyValue, entry: CatalogEntry) -> None:
    await bucket.put(catalog_key(entry.id), entry.model_dump_json().encode())


async def unpublish_entry(bucket: KeyValue, model_id: str) -> None:
    await bucket.delete(catalog_key(model_id))


async def _sync_bucket(bucket: KeyValue, wanted: Mapping[str, bytes], label: str) -> None:
    """Make the bucket hold exactly `wanted`, writing only what changed."""
    try:
        existing = set(await bucket.keys())
    except NoKeysError:
        existing = set()

    changed = 0
    for key, value in wanted.items():
        if key in existing:
            current = await bucket.get(key)
            if current.value == value:
                continue
        await bucket.put(key, value)
        changed += 1
    removed = existing - wanted.keys()
    for key in removed:
        await bucket.delete(key)
    logger.info(
        "Published the catalog's %s: %d in all, %d changed, %d removed", label, len(wanted), changed, len(removed)
    )
