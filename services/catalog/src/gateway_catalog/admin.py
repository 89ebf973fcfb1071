"""Administration of models, prices and aliases, called by the edge's admin endpoints.

Every change is written to PostgreSQL and published to the KV buckets in the
same transaction, while the model's row is locked, so that two replicas
changing one model publish in the order they committed. A changed model
becomes `source = 'admin'`, which the catalog file never overwrites. After
the commit, each change of a model is published as a `CatalogEntryChanged`
event; a failed publish is logged and the change stands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from pydantic import ValidationError

from gateway_catalog import store
from gateway_contracts import CatalogEntry, ErrorCode, ModelAlias, describe_validation_error
from gateway_contracts.public_events import CatalogChange, CatalogEntryChanged
from gateway_contracts.publishing import build_event, publish_event
from gateway_contracts.rpc import (
    AdminModel,
    AdminModelList,
    AliasList,
    AliasListRequest,
    AliasRef,
    AliasSet,
    ModelListRequest,
    ModelRef,
    ModelUpdate,
    PriceChange,
    PriceRef,
    RpcError,
)
from gateway_contracts.rpc_nats import RpcRejected

logger = logging.getLogger("gateway_catalog.admin")


def _rejected(code: ErrorCode, message: str) -> RpcRejected:
    return RpcRejected(RpcError(code=code, message=message))


def _model_not_found(model_id: str) -> RpcRejected:
    return _rejected("model_not_found", f"The model `{model_id}` is not in the catalog.")


def _validate_entry(data: dict[str, Any]) -> CatalogEntry:
    try:
        return CatalogEntry.model_validate(data)
    except ValidationError as error:
        raise _rejected("invalid_request", describe_validation_error(error).message) from None


def _today() -> date:
    return datetime.now(UTC).date()


EntryChange = Callable[[CatalogEntry], CatalogEntry]


class CatalogAdmin:
    def __init__(self, pool: asyncpg.Pool, models: KeyValue, aliases: KeyValue, js: JetStreamContext) -> None:
        self._pool = pool
        self._models = models
        self._aliases = aliases
        self._js = js

    async def create_model(self, entry: CatalogEntry) -> AdminModel:
        async with self._pool.acquire() as connection, connection.transaction():
            await store.lock_for_change(connection)
            row = await connection.fetchrow(
                f"""
                INSERT INTO catalog.models (id, entry, source) VALUES ($1, $2::jsonb, 'admin')
                ON CONFLICT (id) DO NOTHING RETURNING {store.MODEL_COLUMNS}
                """,
                entry.id,
                store.entry_json(entry),
            )
            if row is None:
                raise _rejected(
                    "conflict",
                    f"The model `{entry.id}` already exists (perhaps retired); "
                    f"change it with `PATCH /admin/models/{entry.id}`.",
                )
            model = store.admin_model_from_row(row)
            await store.publish_entry(self._models, model.entry)
        logger.info("Added model %s", entry.id)
        await self._announce(model, "created")
        return model

    async def list_models(self, request: ModelListRequest) -> AdminModelList:
        rows = await self._pool.fetch(f"SELECT {store.MODEL_COLUMNS} FROM catalog.models ORDER BY id")
        return AdminModelList(data=[store.admin_model_from_row(row) for row in rows])

    async def get_model(self, request: ModelRef) -> AdminModel:
        row = await self._pool.fetchrow(
            f"SELECT {store.MODEL_COLUMNS} FROM catalog.models WHERE id = $1", request.model_id
        )
        if row is None:
            raise _model_not_found(request.model_id)
        return store.admin_model_from_row(row)

    async def update_model(self, request: ModelUpdate) -> AdminModel:
        changes = request.model_dump(exclude_unset=True, exclude={"model_id", "retired"})
        for field in ("upstream_name", "capabilities", "prices"):
            if field in changes and changes[field] is None:
                raise _rejected("invalid_request", f"`{field}` cannot be null.")
        if "retired" in request.model_fields_set and request.retired is None:
            raise _rejected("invalid_request", "`retired` cannot be null.")

        def apply(current: CatalogEntry) -> CatalogEntry:
            return _validate_entry({**current.model_dump(exclude={"created"}), **changes})

        model = await self._change(request.model_id, apply, request.retired)
        fields = sorted(request.model_fields_set - {"model_id"})
        logger.info("Changed model %s: %s", request.model_id, ", ".join(fields) or "nothing")
        await self._announce(model, "retired" if request.retired else "updated")
        return model

    async def retire_model(self, request: ModelRef) -> AdminModel:
        model = await self._change(request.model_id, lambda current: current, retired=True)
        logger.info("Retired model %s", request.model_id)
        await self._announce(model, "retired")
        return model

    async def add_price(self, request: PriceChange) -> AdminModel:
        """Add a price from its day on, replacing one that starts on the same day."""
        starts = request.price.effective_from
        if starts < _today():
            raise _rejected(
                "invalid_request",
                f"`effective_from` ({starts}) is in the past; a price change takes effect today "
                f"({_today()}) or later, so that costs already computed stay as they were.",
            )

        def apply(current: CatalogEntry) -> CatalogEntry:
            prices = [price for price in current.prices if price.effective_from != starts]
            prices.append(request.price)
            prices.sort(key=lambda price: price.effective_from)
            return current.model_copy(update={"prices": prices})

        model = await self._change(request.model_id, apply)
        logger.info("Scheduled a price for model %s from %s", request.model_id, starts)
        await self._announce(model, "price_added")
        return model

    async def delete_price(self, request: PriceRef) -> AdminModel:
        """Remove a price that has not taken effect yet."""
        if request.effective_from <= _today():
            raise _rejected(
                "invalid_request",
                f"The price from {request.effective_from} has already taken effect; "
                "add a new price from today instead of removing it.",
            )

        def apply(current: CatalogEntry) -> CatalogEntry:
            prices = [price for price in current.prices if price.effective_from != request.effective_from]
            if len(prices) == len(current.prices):
                raise _rejected("not_found", f"The model `{current.id}` has no price from {request.effective_from}.")
            return current.model_copy(update={"prices": prices})

        model = await self._change(request.model_id, apply)
        logger.info("Removed the price of model %s from %s", request.model_id, request.effective_from)
        await self._announce(model, "price_deleted")
        return model

    async def set_alias(self, request: AliasSet) -> ModelAlias:
        async with self._pool.acquire() as connection, connection.transaction():
            await store.lock_for_change(connection)
            target = await connection.fetchrow(
                "SELECT retired FROM catalog.models WHERE id = $1 FOR SHARE", request.model
            )
            if target is None:
                chained = await connection.fetchval(
                    "SELECT model_id FROM catalog.aliases WHERE alias = $1", request.model
                )
                if chained is not None:
                    raise _rejected(
                        "invalid_request",
                        f"The alias `{request.alias}` cannot point at `{request.model}`, because that is itself an "
                        f"alias of `{chained}`. Point `{request.alias}` at `{chained}` instead.",
                    )
            if target is None or target["retired"]:
                raise _rejected(
                    "model_not_found",
                    f"The alias `{request.alias}` cannot point at `{request.model}`: no live model has that id.",
                )
            row = await connection.fetchrow(
                f"""
                INSERT INTO catalog.aliases (alias, model_id) VALUES ($1, $2)
                ON CONFLICT (alias) DO UPDATE SET model_id = EXCLUDED.model_id, updated_at = now()
                RETURNING {store.ALIAS_COLUMNS}
                """,
                request.alias,
                request.model,
            )
            alias = ModelAlias.model_validate(dict(row))
            await self._aliases.put(alias.alias, alias.model_dump_json().encode())
        logger.info("Alias %s now points at %s", alias.alias, alias.model)
        return alias

    async def list_aliases(self, request: AliasListRequest) -> AliasList:
        rows = await self._pool.fetch(f"SELECT {store.ALIAS_COLUMNS} FROM catalog.aliases ORDER BY alias")
        return AliasList(data=[ModelAlias.model_validate(dict(row)) for row in rows])

    async def delete_alias(self, request: AliasRef) -> ModelAlias:
        async with self._pool.acquire() as connection, connection.transaction():
            await store.lock_for_change(connection)
            row = await connection.fetchrow(
                f"DELETE FROM catalog.aliases WHERE alias = $1 RETURNING {store.ALIAS_COLUMNS}", request.alias
            )
            if row is None:
                raise _rejected("not_found", f"There is no alias `{request.alias}`.")
            await self._aliases.delete(request.alias)
        logger.info("Deleted alias %s", request.alias)
        return ModelAlias.model_validate(dict(row))

    async def _announce(self, model: AdminModel, change: CatalogChange) -> None:
        event = build_event(
            CatalogEntryChanged,
            event_id="",
            project_id=None,
            occurred_at=model.updated_at,
            model_id=model.entry.id,
            provider=model.entry.provider,
            change=change,
            retired=model.retired,
        )
        event.event_id = f"catalog.entry_changed:{event.request_id}"
        try:
            await publish_event(self._js, event)
        except Exception:
            logger.error("Publishing catalog.entry_changed for model %s failed", model.entry.id, exc_info=True)

    async def _change(self, model_id: str, apply: EntryChange, retired: bool | None = None) -> AdminModel:
        """Lock the model's row, apply `apply` to its entry, store and publish the result."""
        async with self._pool.acquire() as connection, connection.transaction():
            await store.lock_for_change(connection)
            row = await connection.fetchrow(
                f"SELECT {store.MODEL_COLUMNS} FROM catalog.models WHERE id = $1 FOR UPDATE", model_id
            )
            if row is None:
                raise _model_not_found(model_id)
            entry: CatalogEntry = apply(store.entry_from_row(row))
            retired = row["retired"] if retired is None else retired
            if retired:
                await _refuse_if_aliased(connection, model_id)

            row = await connection.fetchrow(
                f"""
                UPDATE catalog.models SET entry = $2::jsonb, retired = $3, source = 'admin', updated_at = now()
                WHERE id = $1 RETURNING {store.MODEL_COLUMNS}
                """,
                model_id,
                store.entry_json(entry),
                retired,
            )
            model = store.admin_model_from_row(row)
            if retired:
                await store.unpublish_entry(self._models, model_id)
            else:
                await store.publish_entry(self._models, model.entry)
        return model


async def _refuse_if_aliased(connection: asyncpg.Connection, model_id: str) -> None:
    rows = await connection.fetch("SELECT alias FROM catalog.aliases WHERE model_id = $1 ORDER BY alias", model_id)
    if not rows:
        return
    names = ", ".join(f"`{row['alias']}`" for row in rows)
    raise _rejected(
        "conflict",
        f"The model `{model_id}` cannot be retired while aliases point at it: {names}. "
        "Point them at another model or delete them first.",
    )
