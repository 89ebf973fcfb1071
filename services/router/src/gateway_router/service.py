"""The router's lifecycle: connect, subscribe, serve, and shut down without losing a request."""

from __future__ import annotations

import asyncio
import logging
import os

import aiohttp
import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from gateway_contracts import CatalogEntry, bus
from gateway_contracts.health import ServiceHealth
from gateway_contracts.kv import BucketMirror, ensure_bucket, ensure_payload_store, ensure_stream
from gateway_router.dispatch import Dispatcher
from gateway_router.media import MediaFetcher
from gateway_router.observability import EVENTS_UNACKED, IN_FLIGHT
from gateway_router.providers import resolve_routes, status_records
from gateway_router.publisher import EventPublisher
from gateway_router.retries import RetryPolicy
from gateway_router.settings import RouterSettings

logger = logging.getLogger("gateway_router")


async def serve(stop: asyncio.Event, health: ServiceHealth) -> None:
    """Run the router until `stop` is set."""
    settings = RouterSettings()
    nc = await nats.connect(settings.nats_url, name="gateway-router", max_reconnect_attempts=-1)
    js = nc.jetstream()

    # The router publishes the events, so it makes sure their streams exist
    # before the first request rather than failing on it.
    for spec in bus.STREAMS:
        await ensure_stream(js, spec, settings.nats_replicas)
    await ensure_payload_store(js, settings.nats_replicas)

    routes = resolve_routes(os.environ, settings.emulator_url)
    providers_bucket = await ensure_bucket(js, bus.PROVIDERS_BUCKET, settings.nats_replicas)
    for status in status_records(routes):
        await providers_bucket.put(status.provider, status.model_dump_json().encode())
    for name, route in routes.items():
        logger.info("Provider %s is %s", name, route.mode)

    catalog = BucketMirror(await ensure_bucket(js, bus.CATALOG_BUCKET, settings.nats_replicas), CatalogEntry)
    await catalog.start()

    publisher = EventPublisher(nc, js, settings.event_ack_timeout_seconds)
    await publisher.start()
    http = _http_session(settings)
    media = MediaFetcher(settings.media_max_bytes, settings.media_fetch_timeout_seconds)
    retry = RetryPolicy(settings.max_attempts, settings.retry_backoff_seconds, settings.retry_max_wait_seconds)
    dispatcher = Dispatcher(nc, js, publisher, catalog, routes, http, retry, media, settings.log_content)
    IN_FLIGHT.set_function(lambda: len(dispatcher.jobs))
    EVENTS_UNACKED.set_function(lambda: publisher.pending)

    chat_sub = await nc.subscribe(bus.ROUTER_CHAT, queue=bus.ROUTER_QUEUE, cb=dispatcher.on_dispatch)
    cancel_sub = await nc.subscribe(bus.ROUTER_CANCEL, cb=dispatcher.on_cancel)
    ping_sub = await nc.subscribe(bus.ROUTER_PING, queue=bus.ROUTER_QUEUE, cb=_pong(nc))
    heartbeats = asyncio.create_task(_heartbeat_loop(dispatcher, settings.heartbeat_seconds), name="heartbeats")
    health.watch_task(heartbeats)
    health.add_readiness_check("NATS connected", lambda: nc.is_connected)
    health.mark_ready()
    logger.info("Router ready: %d models in the catalog", len(catalog.records))

    await stop.wait()

    # Stop taking new requests first, so that the queue group sends them to
    # other replicas, then let the running ones finish within the grace period.
    logger.info("Router stopping: %d requests in flight", len(dispatcher.jobs))
    for subscription in (chat_sub, ping_sub):
        await subscription.unsubscribe()
    await _finish_in_flight(dispatcher, settings.shutdown_grace_seconds)
    await cancel_sub.unsubscribe()
    heartbeats.cancel()

    await publisher.drain(settings.shutdown_grace_seconds)
    await catalog.stop()
    await http.close()
    await media.close()
    await nc.drain()
    logger.info("Router stopped")


def _http_session(settings: RouterSettings) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=settings.max_upstream_connections, ttl_dns_cache=300, keepalive_timeout=30)
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=settings.connect_timeout_seconds, sock_read=settings.read_timeout_seconds
    )
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=True)


def _pong(nc: NATS):
    async def reply(msg: Msg) -> None:
        await nc.publish(msg.reply, b"pong")

    return reply


async def _heartbeat_loop(dispatcher: Dispatcher, interval: float) -> None:
    while True:
        await asyncio.sleep(interval / 2)
        try:
            await dispatcher.send_heartbeats(interval)
        except Exception:
            logger.warning("Sending heartbeats failed", exc_info=True)


async def _finish_in_flight(dispatcher: Dispatcher, grace_seconds: float) -> None:
    tasks = [job.task for job in dispatcher.jobs.values() if job.task is not None]
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=grace_seconds)
    if pending:
        logger.warning("Cancelling %d requests still running after %.0f s", len(pending), grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=5)
