"""Delivery of recorded usage rows from PostgreSQL's outbox to ClickHouse.

Each outbox row is one block for `gateway.usage_events`, inserted with the
row's token as ClickHouse's deduplication token and deleted once ClickHouse
has it. A crash after the insert and before the delete leaves the row, and
the next flush inserts the same block under the same token, which
ClickHouse drops wherever it already has it.
"""

from __future__ import annotations

import logging
import time

import asyncpg

from gateway_accounting.analytics import USAGE_TABLE, AnalyticsStore
from gateway_accounting.observability import CLICKHOUSE_FAILURES, CLICKHOUSE_INSERT, OUTBOX_BLOCKS

logger = logging.getLogger("gateway_accounting.outbox")

# Blocks per flush, oldest first; a flush after a long ClickHouse outage
# catches up over several batches instead of one long pause.
_BLOCKS_PER_FLUSH = 20


class AnalyticsOutbox:
    def __init__(self, pool: asyncpg.Pool, store: AnalyticsStore) -> None:
        self._pool = pool
        self._store = store
        self.blocks_written = 0

    async def flush(self) -> int:
        """Insert the oldest pending blocks into ClickHouse; return how many blocks remain.

        A ClickHouse failure is logged and leaves the blocks for the next flush.
        """
        rows = await self._pool.fetch(
            "SELECT token, rows FROM accounting.analytics_outbox ORDER BY created_at, token LIMIT $1",
            _BLOCKS_PER_FLUSH,
        )
        for row in rows:
            started = time.perf_counter()
            try:
                await self._store.insert_json_rows(USAGE_TABLE, row["rows"], row["token"])
            except Exception:
                CLICKHOUSE_FAILURES.inc()
                logger.error("Inserting usage block %s into ClickHouse failed; will retry", row["token"], exc_info=True)
                break
            CLICKHOUSE_INSERT.observe(time.perf_counter() - started)
            await self._pool.execute("DELETE FROM accounting.analytics_outbox WHERE token = $1", row["token"])
            self.blocks_written += 1
        remaining = await self.pending_blocks()
        OUTBOX_BLOCKS.set(remaining)
        return remaining

    async def pending_blocks(self) -> int:
        count: int = await self._pool.fetchval("SELECT count(*) FROM accounting.analytics_outbox")
        return count

    async def pending_events(self) -> int:
        count: int = await self._pool.fetchval("SELECT coalesce(sum(events), 0) FROM accounting.analytics_outbox")
        return count
