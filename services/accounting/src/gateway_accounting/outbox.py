"""Delivery of recorded usage rows from PostgreSQL's outbox to ClickHouse.

Each outbox row is one block for `gateway.usage_events`, inserted with the
row's token as ClickHouse's deduplication token and deleted once ClickHouse
has it. A crash after the insert and before the delete leaves the row, and
the next flush inserts the same block under the same token, which
ClickHouse drops wherever it already has it.

When an insert fails, a `SELECT 1` separates a rejected block from an
unreachable ClickHouse. A rejected block stays in the outbox and the flush
goes on with the next one, so one bad block delays no other. After
`MAX_ATTEMPTS` rejections the block moves to `accounting.analytics_rejected`.
When ClickHouse does not respond, the flush stops and counts no attempt.
"""

from __future__ import annotations

import logging
import time

import asyncpg

from gateway_accounting.analytics import USAGE_TABLE, AnalyticsStore
from gateway_accounting.observability import (
    CLICKHOUSE_FAILURES,
    CLICKHOUSE_INSERT,
    OUTBOX_BLOCKS,
    OUTBOX_REJECTED_BLOCKS,
)

logger = logging.getLogger("gateway_accounting.outbox")

# Blocks per flush, oldest first; a flush after a long ClickHouse outage
# catches up over several batches instead of one long pause.
_BLOCKS_PER_FLUSH = 20
# Failed inserts after which a block that ClickHouse keeps rejecting is set aside.
MAX_ATTEMPTS = 5
# ClickHouse's error as stored with a rejected block, cut to this many characters.
_ERROR_CHARACTERS = 2000


class AnalyticsOutbox:
    def __init__(self, pool: asyncpg.Pool, store: AnalyticsStore) -> None:
        self._pool = pool
        self._store = store
        self.blocks_written = 0

    async def flush(self) -> int:
        """Insert the oldest pending blocks into ClickHouse; return how many blocks remain.

        A ClickHouse failure is logged and leaves the block for a later flush.
        """
        rows = await self._pool.fetch(
            "SELECT token, rows, attempts FROM accounting.analytics_outbox ORDER BY created_at, token LIMIT $1",
            _BLOCKS_PER_FLUSH,
        )
        for row in rows:
            token = row["token"]
            started = time.perf_counter()
            try:
                await self._store.insert_json_rows(USAGE_TABLE, row["rows"], token)
            except Exception as error:
                CLICKHOUSE_FAILURES.inc()
                logger.error("Inserting usage block %s into ClickHouse failed; will retry", token, exc_info=True)
                if not await self._store_answers():
                    break
                # ClickHouse responds to queries, so the failure is this block's.
                await self._pool.execute(
                    "UPDATE accounting.analytics_outbox SET attempts = attempts + 1 WHERE token = $1", token
                )
                if row["attempts"] + 1 >= MAX_ATTEMPTS:
                    await self._set_aside(token, error)
                continue

            CLICKHOUSE_INSERT.observe(time.perf_counter() - started)
            await self._pool.execute("DELETE FROM accounting.analytics_outbox WHERE token = $1", token)
            self.blocks_written += 1

        remaining = await self.pending_blocks()
        OUTBOX_BLOCKS.set(remaining)
        return remaining

    async def _store_answers(self) -> bool:
        try:
            await self._store.query_json("SELECT 1 AS ok", {})
        except Exception:
            logger.warning("ClickHouse does not respond to SELECT 1; the outbox waits for the next flush")
            return False
        return True

    async def _set_aside(self, token: str, error: Exception) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            moved = await connection.fetchval(
                """
                WITH moved AS (DELETE FROM accounting.analytics_outbox WHERE token = $1 RETURNING *)
                INSERT INTO accounting.analytics_rejected (token, events, rows, created_at, error)
                SELECT token, events, rows, created_at, $2 FROM moved
                RETURNING events
                """,
                token,
                f"{type(error).__name__}: {error}"[:_ERROR_CHARACTERS],
            )
        if moved is None:
            return
        OUTBOX_REJECTED_BLOCKS.inc()
        logger.error(
            "ClickHouse rejected usage block %s (%d events) %d times while responding to queries; moved it to "
            "accounting.analytics_rejected. Its spend is in PostgreSQL; fix the rows and move it back to "
            "accounting.analytics_outbox to retry.",
            token,
            moved,
            MAX_ATTEMPTS,
        )

    async def pending_blocks(self) -> int:
        count: int = await self._pool.fetchval("SELECT count(*) FROM accounting.analytics_outbox")
        return count

    async def pending_events(self) -> int:
        count: int = await self._pool.fetchval("SELECT coalesce(sum(events), 0) FROM accounting.analytics_outbox")
        return count
