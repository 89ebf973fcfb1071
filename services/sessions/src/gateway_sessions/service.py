"""The sessions service's lifecycle: schema, the turns consumer, the API calls and the retention sweep."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats
from nats.js.errors import NotFoundError

from gateway_contracts import bus
from gateway_contracts.health import ServiceHealth
from gateway_contracts.kv import ensure_stream
from gateway_contracts.metrics import ConsumerLagMonitor
from gateway_contracts.rpc import HistoryReply, HistoryRequest
from gateway_contracts.rpc_nats import respond
from gateway_contracts.sessions import PathRequest, RetentionRef, RetentionSetting, SessionListRequest, SessionRef
from gateway_sessions import database
from gateway_sessions.announcements import Announcer
from gateway_sessions.api import SessionsApi
from gateway_sessions.consumer import TurnsConsumer
from gateway_sessions.events import EventLog
from gateway_sessions.history import read_history
from gateway_sessions.retention import Retention
from gateway_sessions.settings import SessionsSettings

logger = logging.getLogger("gateway_sessions")

# The consumer of the first version of session events, which went to one
# subject for every session; nothing publishes them any more.
_RETIRED_CONSUMER = "sessions-turns"


async def serve(stop: asyncio.Event, health: ServiceHealth) -> None:
    """Run the sessions service until `stop` is set."""
    settings = SessionsSettings()
    pool = await database.connect(settings.database_url)
    await database.prepare_schema(pool, settings.migrate_on_start)

    nc = await nats.connect(settings.nats_url, name="gateway-sessions", max_reconnect_attempts=-1)
    js = nc.jetstream()
    await ensure_stream(js, bus.SESSION_STREAM, settings.nats_replicas)
    stream = await js.stream_info(bus.SESSION_STREAM.name)
    await database.match_event_stream(pool, stream.created)
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(bus.SESSION_STREAM.name, _RETIRED_CONSUMER)

    log = EventLog(js, Announcer(js, settings.event_content))
    api = SessionsApi(pool, log)
    retention = Retention(pool)
    consumer = TurnsConsumer(js, pool, log)
    tasks = [
        asyncio.create_task(consumer.run(), name="session-turns"),
        asyncio.create_task(retention.run(settings.retention_interval_seconds, stop), name="session-retention"),
    ]
    for task in tasks:
        health.watch_task(task)
    lag = ConsumerLagMonitor(js, bus.SESSION_STREAM.name, bus.SESSIONS_TURNS_CONSUMER)
    lag.start()
    queue = bus.SESSIONS_QUEUE

    async def history(request: HistoryRequest) -> HistoryReply:
        return await read_history(pool, log, request)

    subscriptions = [
        await respond(nc, bus.SESSIONS_HISTORY, queue, HistoryRequest, history),
        await respond(nc, bus.SESSIONS_LIST, queue, SessionListRequest, api.list),
        await respond(nc, bus.SESSIONS_GET, queue, SessionRef, api.get),
        await respond(nc, bus.SESSIONS_PATH, queue, PathRequest, api.path),
        await respond(nc, bus.SESSIONS_DELETE, queue, SessionRef, api.delete),
        await respond(nc, bus.SESSIONS_RETENTION_GET, queue, RetentionRef, retention.get),
        await respond(nc, bus.SESSIONS_RETENTION_SET, queue, RetentionSetting, retention.set),
    ]
    health.add_readiness_check("NATS connected", lambda: nc.is_connected)
    health.mark_ready()
    logger.info("Sessions ready")

    await stop.wait()

    logger.info("Sessions stopping")
    for subscription in subscriptions:
        await subscription.unsubscribe()
    consumer.stop()
    await lag.stop()
    _done, pending = await asyncio.wait(tasks, timeout=settings.shutdown_grace_seconds)
    if pending:
        logger.warning(
            "Session events in hand did not finish within %.0f s; they will be redelivered",
            settings.shutdown_grace_seconds,
        )
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=5)
    await nc.drain()
    await pool.close()
    logger.info("Sessions stopped")
