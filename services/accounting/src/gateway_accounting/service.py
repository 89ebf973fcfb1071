"""Accounting's lifecycle: schema, credentials, the usage consumer and the RPC handlers."""

from __future__ import annotations

import asyncio
import logging

import nats

from gateway_accounting import credentials, database
from gateway_accounting.admin import Admin
from gateway_accounting.analytics import open_store
from gateway_accounting.announcements import UsageRecordedPublisher
from gateway_accounting.bootstrap import bootstrap
from gateway_accounting.budgets import BudgetPublisher
from gateway_accounting.ingest import UsageIngestor
from gateway_accounting.outbox import AnalyticsOutbox
from gateway_accounting.reports import analytics, recent_requests, reconcile, usage_report
from gateway_accounting.settings import AccountingSettings
from gateway_contracts import CatalogEntry, bus
from gateway_contracts.health import ServiceHealth
from gateway_contracts.kv import BucketMirror, ensure_bucket, ensure_stream
from gateway_contracts.metrics import ConsumerLagMonitor
from gateway_contracts.rpc import (
    AnalyticsRequest,
    BootstrapRequest,
    KeyCreate,
    KeyRef,
    KeyUpdate,
    ProjectCreate,
    ProjectListRequest,
    ProjectRef,
    ProjectUpdate,
    RecentRequestsRequest,
    ReconcileRequest,
    UsageReportRequest,
)
from gateway_contracts.rpc_nats import respond

logger = logging.getLogger("gateway_accounting")


async def serve(stop: asyncio.Event, health: ServiceHealth) -> None:
    """Run accounting until `stop` is set."""
    settings = AccountingSettings()
    # Opened first: without CLICKHOUSE_URL or chdb the service exits here, before it connects to anything.
    store = open_store(settings.clickhouse_url, settings.chdb_path)
    pool = await database.connect(settings.database_url)
    await database.prepare_schema(pool, settings.migrate_on_start)
    await store.connect()
    if settings.migrate_on_start:
        await store.apply_schema()

    nc = await nats.connect(settings.nats_url, name="gateway-accounting", max_reconnect_attempts=-1)
    js = nc.jetstream()
    await ensure_stream(js, bus.USAGE_STREAM, settings.nats_replicas)
    await ensure_stream(js, bus.BUDGET_STREAM, settings.nats_replicas)
    await ensure_stream(js, bus.ACCOUNTS_STREAM, settings.nats_replicas)
    auth_bucket = await ensure_bucket(js, bus.AUTH_BUCKET, settings.nats_replicas)
    await credentials.sync_bucket(pool, auth_bucket)
    budgets = BudgetPublisher(
        pool,
        js,
        await ensure_bucket(js, bus.BUDGET_BUCKET, settings.nats_replicas),
        await ensure_bucket(js, bus.LEDGER_BUCKET, settings.nats_replicas),
    )
    await budgets.publish_all()

    catalog = BucketMirror(await ensure_bucket(js, bus.CATALOG_BUCKET, settings.nats_replicas), CatalogEntry)
    await catalog.start()
    outbox = AnalyticsOutbox(pool, store)
    recorded = UsageRecordedPublisher(nc)
    ingestor = UsageIngestor(
        js,
        pool,
        outbox,
        budgets,
        settings.batch_max_events,
        settings.batch_max_wait_seconds,
        catalog,
        settings.metrics_project_labels,
        recorded=recorded,
    )
    ingest_task = asyncio.create_task(ingestor.run(), name="usage-ingest")
    health.watch_task(ingest_task)
    lag = ConsumerLagMonitor(js, bus.USAGE_STREAM.name, bus.ACCOUNTING_USAGE_CONSUMER)
    lag.start()

    admin = Admin(pool, auth_bucket, budgets, js)
    calls = [
        (bus.ACCOUNTING_BOOTSTRAP, BootstrapRequest, lambda request: bootstrap(pool, auth_bucket, request)),
        (bus.ACCOUNTING_USAGE_REPORT, UsageReportRequest, lambda request: usage_report(store, request)),
        (bus.ACCOUNTING_ANALYTICS, AnalyticsRequest, lambda request: analytics(store, pool, request)),
        (bus.ACCOUNTING_RECENT_REQUESTS, RecentRequestsRequest, lambda request: recent_requests(store, request)),
        (
            bus.ADMIN_PROJECT_RECONCILE,
            ReconcileRequest,
            lambda request: reconcile(store, pool, outbox, request),
        ),
        (bus.ADMIN_PROJECT_BUDGET, ProjectRef, admin.budget_status),
        (bus.ADMIN_KEY_UPDATE, KeyUpdate, admin.update_key),
        (bus.ADMIN_PROJECT_CREATE, ProjectCreate, admin.create_project),
        (bus.ADMIN_PROJECT_LIST, ProjectListRequest, admin.list_projects),
        (bus.ADMIN_PROJECT_GET, ProjectRef, admin.get_project),
        (bus.ADMIN_PROJECT_UPDATE, ProjectUpdate, admin.update_project),
        (bus.ADMIN_KEY_CREATE, KeyCreate, admin.create_key),
        (bus.ADMIN_KEY_LIST, ProjectRef, admin.list_keys),
        (bus.ADMIN_KEY_REVOKE, KeyRef, admin.revoke_key),
    ]
    subscriptions = [
        await respond(nc, subject, bus.ACCOUNTING_QUEUE, model, handler) for subject, model, handler in calls
    ]
    health.add_readiness_check("NATS connected", lambda: nc.is_connected)
    health.mark_ready()
    logger.info("Accounting ready: analytics in %s", "ClickHouse server" if settings.clickhouse_url else "chdb")

    await stop.wait()

    # Stop answering, let the batch in hand reach both stores and be acked,
    # then close the connections in the order they were opened.
    logger.info("Accounting stopping")
    for subscription in subscriptions:
        await subscription.unsubscribe()
    ingestor.stop()
    await lag.stop()
    try:
        await asyncio.wait_for(ingest_task, settings.shutdown_grace_seconds)
    except TimeoutError:
        logger.warning(
            "The usage batch did not finish within %.0f s; it will be redelivered", settings.shutdown_grace_seconds
        )
    await catalog.stop()
    await recorded.close()
    await nc.drain()
    await store.close()
    await pool.close()
    logger.info("Accounting stopped")
