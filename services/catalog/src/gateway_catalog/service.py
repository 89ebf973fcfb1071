"""The catalog service's lifecycle: load the file, publish to KV."""

from __future__ import annotations

import asyncio
import logging

import nats

from gateway_catalog import database, store
from gateway_catalog.loader import load_entries
from gateway_catalog.settings import CatalogSettings
from gateway_contracts import bus
from gateway_contracts.kv import ensure_bucket

logger = logging.getLogger("gateway_catalog")


async def serve(stop: asyncio.Event) -> None:
    """Load the catalog, publish it and stay up until `stop` is set."""
    settings = CatalogSettings()
    # A broken catalog file stops the service here, before it publishes anything.
    entries = load_entries(settings.catalog_file)

    pool = await database.connect(settings.database_url)
    await database.apply_schema(pool)
    await store.load_file_entries(pool, entries)

    nc = await nats.connect(settings.nats_url, name="gateway-catalog", max_reconnect_attempts=-1)
    js = nc.jetstream()
    bucket = await ensure_bucket(js, bus.CATALOG_BUCKET)
    await store.publish(bucket, await store.live_entries(pool))
    logger.info("Catalog ready")

    await stop.wait()

    logger.info("Catalog stopping")
    await nc.drain()
    await pool.close()
    logger.info("Catalog stopped")
