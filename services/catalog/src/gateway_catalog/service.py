"""The catalog service's lifecycle: load the file, publish to KV, serve admin calls."""

from __future__ import annotations

import asyncio
import logging

import nats
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription

from gateway_catalog import database, store
from gateway_catalog.admin import CatalogAdmin
from gateway_catalog.loader import load_entries
from gateway_catalog.settings import CatalogSettings
from gateway_contracts import CatalogEntry, bus
from gateway_contracts.health import ServiceHealth
from gateway_contracts.kv import ensure_bucket, ensure_stream
from gateway_contracts.rpc import (
    AliasListRequest,
    AliasRef,
    AliasSet,
    ModelListRequest,
    ModelRef,
    ModelUpdate,
    PriceChange,
    PriceRef,
)
from gateway_contracts.rpc_nats import respond

logger = logging.getLogger("gateway_catalog")


async def serve(stop: asyncio.Event, health: ServiceHealth) -> None:
    """Load the catalog, publish it and serve admin calls until `stop` is set."""
    settings = CatalogSettings()
    # A broken catalog file stops the service here, before it publishes anything.
    entries = load_entries(settings.catalog_file)

    pool = await database.connect(settings.database_url)
    await database.prepare_schema(pool, settings.migrate_on_start)
    await store.load_file_entries(pool, entries)

    nc = await nats.connect(settings.nats_url, name="gateway-catalog", max_reconnect_attempts=-1)
    js = nc.jetstream()
    models = await ensure_bucket(js, bus.CATALOG_BUCKET, settings.nats_replicas)
    aliases = await ensure_bucket(js, bus.ALIAS_BUCKET, settings.nats_replicas)
    # Publishing from PostgreSQL also repairs a bucket that lost writes while
    # no catalog replica was running.
    await store.publish_all(pool, models, aliases)

    await ensure_stream(js, bus.CATALOG_STREAM, settings.nats_replicas)
    await _answer_admin_calls(nc, CatalogAdmin(pool, models, aliases, js))
    health.add_readiness_check("NATS connected", lambda: nc.is_connected)
    health.mark_ready()
    logger.info("Catalog ready")

    await stop.wait()

    # Draining lets admin calls already received finish before the pool closes.
    logger.info("Catalog stopping")
    await nc.drain()
    await pool.close()
    logger.info("Catalog stopped")


async def _answer_admin_calls(nc: NATS, admin: CatalogAdmin) -> list[Subscription]:
    queue = bus.CATALOG_QUEUE
    return [
        await respond(nc, bus.CATALOG_MODEL_CREATE, queue, CatalogEntry, admin.create_model),
        await respond(nc, bus.CATALOG_MODEL_LIST, queue, ModelListRequest, admin.list_models),
        await respond(nc, bus.CATALOG_MODEL_GET, queue, ModelRef, admin.get_model),
        await respond(nc, bus.CATALOG_MODEL_UPDATE, queue, ModelUpdate, admin.update_model),
        await respond(nc, bus.CATALOG_MODEL_RETIRE, queue, ModelRef, admin.retire_model),
        await respond(nc, bus.CATALOG_PRICE_ADD, queue, PriceChange, admin.add_price),
        await respond(nc, bus.CATALOG_PRICE_DELETE, queue, PriceRef, admin.delete_price),
        await respond(nc, bus.CATALOG_ALIAS_SET, queue, AliasSet, admin.set_alias),
        await respond(nc, bus.CATALOG_ALIAS_LIST, queue, AliasListRequest, admin.list_aliases),
        await respond(nc, bus.CATALOG_ALIAS_DELETE, queue, AliasRef, admin.delete_alias),
    ]
