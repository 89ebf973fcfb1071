"""The usage consumer, run in this process against its own nats-server, PostgreSQL database and chdb.

The consumer fetches the next batch while it writes the current one. These
tests check that stopping it leaves no fetched event unacked and unwritten,
and that a second consumer on the same durable counts every request once,
redeliveries included.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.js import JetStreamContext

from gateway_accounting import database
from gateway_accounting.analytics import ChdbStore
from gateway_accounting.announcements import PublishFailed, UsageRecordedPublisher
from gateway_accounting.budgets import BudgetPublisher
from gateway_accounting.ingest import UsageIngestor
from gateway_accounting.outbox import AnalyticsOutbox
from gateway_contracts import CatalogEntry, UsageEvent, bus
from gateway_contracts.kv import BucketMirror, ensure_bucket, ensure_stream
from gateway_contracts.public_events import UsageRecorded
from tests.accounting_helpers import synthetic_event
from tests.conftest import RunningStack, free_port
from tests.own_parts import create_database, start_nats, stop_process

EVENTS = 1200
BATCH = 200


@dataclass
class Parts:
    js: JetStreamContext
    pool: asyncpg.Pool
    outbox: AnalyticsOutbox
    budgets: BudgetPublisher
    catalog: BucketMirror[CatalogEntry]
    recorded: UsageRecordedPublisher

    def ingestor(self) -> UsageIngestor:
        return UsageIngestor(
            self.js,
            self.pool,
            self.outbox,
            self.budgets,
            max_events=BATCH,
            max_wait=0.05,
            catalog=self.catalog,
            recorded=self.recorded,
        )


@pytest.fixture
async def parts(stack: RunningStack, tmp_path: Path) -> AsyncIterator[Parts]:
    port = free_port()
    server = start_nats(tmp_path / "nats", port)
    store = ChdbStore(tmp_path / "clickhouse")
    pool = await database.connect(create_database(stack))
    nc = await nats.connect(f"nats://127.0.0.1:{port}")
    try:
        await database.apply_schema(pool)
        await store.apply_schema()
        js = nc.jetstream()
        for stream in (bus.USAGE_STREAM, bus.BUDGET_STREAM, bus.ACCOUNTS_STREAM):
            await ensure_stream(js, stream)
        budgets = BudgetPublisher(
            pool, js, await ensure_bucket(js, bus.BUDGET_BUCKET), await ensure_bucket(js, bus.LEDGER_BUCKET)
        )
        catalog = BucketMirror(await ensure_bucket(js, bus.CATALOG_BUCKET), CatalogEntry)
        yield Parts(js, pool, AnalyticsOutbox(pool, store), budgets, catalog, UsageRecordedPublisher(nc))
    finally:
        await nc.close()
        await pool.close()
        await store.close()
        stop_process(server)


async def _publish(js: JetStreamContext, events: list[UsageEvent], attempt: int) -> None:
    """Publish under per-attempt message ids, so that JetStream stores a second attempt as a redelivery would look."""
    acks = [
        await js.publish_async(
            bus.USAGE_EVENT_SUBJECT,
            event.model_dump_json().encode(),
            headers={"Nats-Msg-Id": f"usage:{event.request_id}:{attempt}"},
        )
        for event in events
    ]
    await asyncio.wait_for(asyncio.gather(*acks), 30)


async def _run_until(ingestor: UsageIngestor, done: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    """Run `ingestor` until `done` returns True, then stop it and wait for it to finish."""
    task = asyncio.create_task(ingestor.run())
    deadline = time.monotonic() + timeout
    # The ingestor has no event to wait on; a 10 ms poll is precise enough here.
    while not await done() and time.monotonic() < deadline and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    ingestor.stop()
    await asyncio.wait_for(task, 30)


def _written(ingestor: UsageIngestor, count: int) -> Callable[[], Awaitable[bool]]:
    async def done() -> bool:
        return ingestor.events_written >= count

    return done


def _drained(js: JetStreamContext) -> Callable[[], Awaitable[bool]]:
    async def done() -> bool:
        consumer = await js.consumer_info(bus.USAGE_STREAM.name, bus.ACCOUNTING_USAGE_CONSUMER)
        return consumer.num_pending == 0 and consumer.num_ack_pending == 0

    return done


async def _recorded(pool: asyncpg.Pool, project_id: str) -> tuple[int, int, Decimal]:
    rows = await pool.fetchval("SELECT count(*) FROM accounting.usage_records WHERE project_id = $1", project_id)
    spend = await pool.fetchrow(
        "SELECT coalesce(sum(requests), 0) AS requests, coalesce(sum(cost_usd), 0) AS cost"
        " FROM accounting.daily_spend WHERE project_id = $1",
        project_id,
    )
    return rows, spend["requests"], spend["cost"]


async def test_stop_leaves_nothing_fetched_unwritten(parts: Parts) -> None:
    events = [synthetic_event("proj_stop", "key_stop", Decimal("0.000001234567")) for _ in range(EVENTS)]
    await _publish(parts.js, events, attempt=0)
    ingestor = parts.ingestor()

    await _run_until(ingestor, _written(ingestor, BATCH))
    consumer = await parts.js.consumer_info(bus.USAGE_STREAM.name, bus.ACCOUNTING_USAGE_CONSUMER)
    rows, requests, _cost = await _recorded(parts.pool, "proj_stop")

    assert BATCH <= ingestor.events_written < EVENTS
    assert consumer.num_ack_pending == 0
    assert consumer.num_pending == EVENTS - ingestor.events_written
    assert rows == ingestor.events_written
    assert requests == ingestor.events_written


async def test_redelivered_batch_counted_once(parts: Parts) -> None:
    cost = Decimal("0.000001234567")
    events = [synthetic_event("proj_again", "key_again", cost) for _ in range(EVENTS)]
    await _publish(parts.js, events, attempt=0)
    first = parts.ingestor()
    await _run_until(first, _written(first, BATCH))

    # A second consumer on the same durable gets the rest, and every event again under new message ids.
    await _publish(parts.js, events, attempt=1)
    await _run_until(parts.ingestor(), _drained(parts.js))
    rows, requests, total = await _recorded(parts.pool, "proj_again")

    assert first.events_written < EVENTS
    assert rows == EVENTS
    assert requests == EVENTS
    assert total == cost * EVENTS


def _encoded(count: int) -> list[tuple[str, bytes]]:
    return [(f"usage.recorded:test-{index}", b'{"n": %d}' % index) for index in range(count)]


async def test_recorded_publisher_stores_each_once(parts: Parts) -> None:
    encoded = _encoded(300)

    await parts.recorded.publish(encoded)
    # A retry after a lost ack publishes the same ids again; JetStream keeps the first copies.
    await parts.recorded.publish(encoded)
    info = await parts.js.stream_info(bus.USAGE_STREAM.name, subjects_filter=UsageRecorded.subject)

    assert info.state.subjects == {UsageRecorded.subject: 300}


async def test_recorded_publisher_without_stream_raises(parts: Parts) -> None:
    await parts.js.delete_stream(bus.USAGE_STREAM.name)

    with pytest.raises(PublishFailed, match="503"):
        await parts.recorded.publish(_encoded(3))
