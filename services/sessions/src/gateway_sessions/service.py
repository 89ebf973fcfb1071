"""The sessions service's lifecycle: schema, the turns consumer and history reads."""

from __future__ import annotations

import asyncio
import logging

import nats

from gateway_contracts import bus
from gateway_contracts.health import ServiceHealth
from gateway_contracts.kv import ensure_stream
from gateway_contracts.rpc import HistoryRequest
from gateway_contracts.rpc_nats import respond
from gateway_sessions import database
from gateway_sessions.consumer import TurnsConsumer
from gateway_sessions.history import read_history
from gateway_sessions.settings import SessionsSettings

logger = logging.getLogger("gateway_sessions")


async def serve(stop: asyncio.Event, health: ServiceHealth) -> None:
    """Run the sessions service until `stop` is set."""
    settings = SessionsSettings()
    pool = await database.connect(settings.database_url)
    await database.prepare_schema(pool, settings.migrate_on_start)

    nc = await nats.connect(settings.nats_url, name="gateway-sessions", max_reconnect_attempts=-1)
    js = nc.jetstream()
    await ensure_stream(js, bus.SESSION_STREAM, settings.nats_replicas)

    consumer = TurnsConsumer(js, pool)
    consumer_task = asyncio.create_task(consumer.run(), name="session-turns")
    health.watch_task(consumer_task)
    history_sub = await respond(
        nc, bus.SESSIONS_HISTORY, bus.SESSIONS_QUEUE, HistoryRequest, lambda request: read_history(pool, request)
    )
    health.add_readiness_check("NATS connected", lambda: nc.is_connected)
    health.mark_ready()
    logger.info("Sessions ready")

    await stop.wait()

    logger.info("Sessions stopping")
    await history_sub.unsubscribe()
    consumer.stop()
    try:
        await asyncio.wait_for(consumer_task, settings.shutdown_grace_seconds)
    except TimeoutError:
        logger.warning(
            "Session events in hand did not finish within %.0f s; they will be redelivered",
            settings.shutdown_grace_seconds,
        )
    await nc.drain()
    await pool.close()
    logger.info("Sessions stopped")
