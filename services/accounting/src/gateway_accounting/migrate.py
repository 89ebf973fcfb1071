"""Accounting's schemas, applied apart from the service by `gateway migrate accounting`."""

from __future__ import annotations

from gateway_accounting import database
from gateway_accounting.analytics import open_store
from gateway_accounting.settings import AccountingSettings


async def migrate() -> None:
    """Apply the PostgreSQL schema to `DATABASE_URL` and the analytics schema to ClickHouse."""
    settings = AccountingSettings()
    pool = await database.connect(settings.database_url)
    try:
        await database.apply_schema(pool)
    finally:
        await pool.close()

    store = open_store(settings.clickhouse_url, settings.chdb_path)
    try:
        await store.apply_schema()
    finally:
        await store.close()
