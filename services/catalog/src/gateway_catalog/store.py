"""The catalog in PostgreSQL and its publication to the catalog KV bucket."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import asyncpg
import orjson
from nats.js.errors import NoKeysError
from nats.js.kv import KeyValue

from gateway_contracts import CatalogEntry, catalog_key

logger = logging.getLogger("gateway_catalog.store")


async def load_file_entries(pool: asyncpg.Pool, entries: Sequence[CatalogEntry]) -> None:
    """Insert or refresh the file's entries, leaving rows that an admin changed alone."""
    await pool.executemany(
        """
        INSERT INTO catalog.models (id, entry, source) VALUES ($1, $2::jsonb, 'file')
        ON CONFLICT (id) DO UPDATE SET entry = EXCLUDED.entry, updated_at = now()
        WHERE catalog.models.source = 'file' AND catalog.models.entry <> EXCLUDED.entry
        """,
        [(entry.id, entry.model_dump_json(exclude={"created"})) for entry in entries],
    )


async def live_entries(pool: asyncpg.Pool) -> list[CatalogEntry]:
    rows = await pool.fetch(
        "SELECT entry::text, extract(epoch FROM created_at)::bigint AS created "
        "FROM catalog.models WHERE NOT retired ORDER BY id"
    )
    entries = []
    for row in rows:
        data = orjson.loads(row["entry"])
        data["created"] = row["created"]
        entries.append(CatalogEntry.model_validate(data))
    return entries


async def publish(bucket: KeyValue, entries: Sequence[CatalogEntry]) -> None:
    """Make the bucket hold exactly `entries`, writing only what changed."""
    wanted = {catalog_key(entry.id): entry.model_dump_json().encode() for entry in entries}
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
    for key in existing - wanted.keys():
        await bucket.delete(key)
    logger.info(
        "Published the catalog: %d models, %d changed, %d removed", len(wanted), changed, len(existing - wanted.keys())
    )
