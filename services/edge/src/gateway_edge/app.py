"""The FastAPI application and its lifespan: NATS, the KV mirrors and the router client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
from fastapi import FastAPI

from gateway_contracts import BudgetRecord, CatalogEntry, CredentialRecord, ModelAlias, ProviderStatus, bus
from gateway_contracts.kv import BucketMirror, ensure_bucket, ensure_payload_store
from gateway_edge import (
    admin,
    admin_catalog,
    analytics,
    budget_status,
    chat,
    health,
    metrics,
    models,
    recent,
    session_admin,
    sessions,
    usage,
)
from gateway_edge.auth import Authenticator
from gateway_edge.budgets import BudgetGate
from gateway_edge.catalog import ModelDirectory
from gateway_edge.chat_endpoint import ChatEndpoint
from gateway_edge.errors import install_handlers
from gateway_edge.guards import RejectControlCharacters
from gateway_edge.observability import ObservabilityMiddleware, telemetry_config
from gateway_edge.router_client import RouterClient
from gateway_edge.settings import EdgeSettings
from gateway_edge.state import EdgeState

logger = logging.getLogger("gateway_edge")


def create_app(settings: EdgeSettings | None = None) -> FastAPI:
    settings = settings or EdgeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await _start(settings)
        app.state.edge = state
        logger.info("Edge ready on http://%s:%d", settings.host, settings.port)
        try:
            yield
        finally:
            await _stop(state)

    app = FastAPI(
        title="Generative Gateway",
        version="0.1.0",
        description="An OpenAI-compatible gateway for large language models.",
        lifespan=lifespan,
        # A trailing slash gets a 404 in OpenAI's error shape, not a redirect with an empty body.
        redirect_slashes=False,
        telemetry=telemetry_config(),
    )
    install_handlers(app)
    # The last middleware added runs first. The chat endpoint runs inside the
    # guard, and the request id covers the guard's 400s too.
    app.add_middleware(ChatEndpoint)
    app.add_middleware(RejectControlCharacters)
    app.add_middleware(ObservabilityMiddleware)
    public = (chat, models, usage, analytics, recent, budget_status, sessions)
    for module in (*public, admin, admin_catalog, session_admin, health):
        app.include_router(module.router)
    if settings.http_metrics:
        app.include_router(metrics.router)
    return app


async def _start(settings: EdgeSettings) -> EdgeState:
    nc = await nats.connect(settings.nats_url, name="gateway-edge", max_reconnect_attempts=-1)
    js = nc.jetstream()
    replicas = settings.nats_replicas
    await ensure_payload_store(js, replicas)

    auth = Authenticator()
    credentials = BucketMirror(
        await ensure_bucket(js, bus.AUTH_BUCKET, replicas), CredentialRecord, on_change=auth.on_change
    )
    catalog = BucketMirror(await ensure_bucket(js, bus.CATALOG_BUCKET, replicas), CatalogEntry)
    aliases = BucketMirror(await ensure_bucket(js, bus.ALIAS_BUCKET, replicas), ModelAlias)
    providers = BucketMirror(await ensure_bucket(js, bus.PROVIDERS_BUCKET, replicas), ProviderStatus)
    budget_records = BucketMirror(await ensure_bucket(js, bus.BUDGET_BUCKET, replicas), BudgetRecord)
    for mirror in (credentials, catalog, aliases, providers, budget_records):
        await mirror.start()
    auth.attach(credentials)
    budgets = BudgetGate(budget_records, await ensure_bucket(js, bus.LEDGER_BUCKET, replicas), js)

    router = RouterClient(nc, js, settings.router_idle_timeout_seconds, settings.max_buffered_bytes)
    await router.start()
    metrics.IN_FLIGHT.set_function(lambda: router.in_flight)
    return EdgeState(
        settings=settings,
        nc=nc,
        auth=auth,
        credentials=credentials,
        catalog=catalog,
        aliases=aliases,
        providers=providers,
        models=ModelDirectory(catalog, aliases),
        budget_records=budget_records,
        budgets=budgets,
        router=router,
    )


async def _stop(state: EdgeState) -> None:
    await state.router.stop()
    for mirror in (state.credentials, state.catalog, state.aliases, state.providers, state.budget_records):
        await mirror.stop()
    await state.nc.drain()
