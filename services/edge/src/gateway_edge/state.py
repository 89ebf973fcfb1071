"""What the edge's request handlers share: connections, mirrors and settings."""

from __future__ import annotations

from dataclasses import dataclass

from nats.aio.client import Client as NATS

from gateway_contracts import BudgetRecord, CatalogEntry, CredentialRecord, ModelAlias, ProviderStatus
from gateway_contracts.kv import BucketMirror
from gateway_edge.auth import Authenticator
from gateway_edge.budgets import BudgetGate
from gateway_edge.catalog import ModelDirectory
from gateway_edge.router_client import RouterClient
from gateway_edge.settings import EdgeSettings


@dataclass(slots=True)
class EdgeState:
    settings: EdgeSettings
    nc: NATS
    auth: Authenticator
    credentials: BucketMirror[CredentialRecord]
    catalog: BucketMirror[CatalogEntry]
    aliases: BucketMirror[ModelAlias]
    providers: BucketMirror[ProviderStatus]
    # Lookups by model id or alias over `catalog` and `aliases`.
    models: ModelDirectory
    budget_records: BucketMirror[BudgetRecord]
    budgets: BudgetGate
    router: RouterClient
