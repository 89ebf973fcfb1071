"""The durable consumer of usage events: batches into PostgreSQL, then ClickHouse through an outbox.

Ack policy: explicit, after PostgreSQL committed the batch. One transaction
inserts the usage records (a request id already present adds nothing), adds
the new ones to the daily totals, and stores their ClickHouse rows as one
outbox block. The block then goes to ClickHouse under its own deduplication
token. A crash before the commit redelivers the batch, a crash after it
leaves the block in the outbox for the next flush, so every request is
counted exactly once in both stores. A message that does not validate as a
`UsageEvent` can never succeed and is terminated, with a log line.

Between the commit and the acks, the batch's `UsageRecorded` events are
published for subscribers, so that a crash in between publishes them again
rather than not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from gateway_accounting.analytics import usage_rows
from gateway_accounting.announcements import UsageRecordedPublisher, usage_recorded_batch
from gateway_accounting.budgets import BudgetPublisher
from gateway_accounting.decoding import InvalidUsageEvent, UsageRecord, decode_usage
from gateway_accounting.observability import BATCH_SIZE, BATCH_WRITE, USAGE_EVENTS, batch_spans, count_recorded
from gateway_accounting.outbox import AnalyticsOutbox
from gateway_accounting.spend import RecordedBatch, record_spend
from gateway_contracts import CatalogEntry, bus
from gateway_contracts.kv import BucketMirror

logger = logging.getLogger("gateway_accounting.ingest")

# Seconds an unacked message waits before JetStream delivers it again. Longer
# than the slowest batch write, so that a live consumer does not see its own
# batch twice.
_ACK_WAIT_SECONDS = 60.0
# Seconds to wait before retrying a batch whose write failed.
_RETRY_DELAY_SECONDS = 2.0


class UsageIngestor:
    def __init__(
        self,
        js: JetStreamContext,
        pool: asyncpg.Pool,
        outbox: AnalyticsOutbox,
        budgets: BudgetPublisher,
        max_events: int,
        max_wait: float,
        catalog: BucketMirror[CatalogEntry],
        project_labels: bool = True,
        *,
        recorded: UsageRecordedPublisher,
    ) -> None:
        self._js = js
        self._recorded = recorded
        self._pool = pool
        self._outbox = outbox
        self._budgets = budgets
        self._max_events = max_events
        self._max_wait = max_wait
        # The catalog bounds the model label of the token and cost counters.
        self._catalog = catalog
        self._project_labels = project_labels
        self._stopping = asyncio.Event()
        self.batches_written = 0
        self.events_written = 0
        # Set while the outbox holds blocks that ClickHouse has not taken yet.
        self._outbox_behind = False
        # Delivers outbox blocks to ClickHouse while the next batch goes to PostgreSQL.
        self._flusher: asyncio.Task[None] | None = None

    async def run(self) -> None:
        subscription = await self._js.pull_subscribe(
            bus.USAGE_EVENT_SUBJECT,
            durable=bus.ACCOUNTING_USAGE_CONSUMER,
            stream=bus.USAGE_STREAM.name,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=_ACK_WAIT_SECONDS,
                max_ack_pending=self._max_events * 4,
            ),
        )
        logger.info("Consuming %s as %s", bus.USAGE_EVENT_SUBJECT, bus.ACCOUNTING_USAGE_CONSUMER)
        # Blocks that a previous run committed but did not deliver.
        await self._flush_outbox()
        # The next batch is fetched while the current one is written, so that
        # the wait for PostgreSQL overlaps with NATS and decoding. Batches are
        # still written one after the other, because two transactions adding
        # to the same daily totals in different orders could deadlock.
        collecting = asyncio.create_task(self._collect(subscription), name="usage-fetch")
        try:
            while True:
                batch = await collecting
                # A fetch started before `stop` may still return messages, so
                # the batch written after `stop` is the last one only when no
                # fetch was started after it.
                last = self._stopping.is_set()
                if not last:
                    collecting = asyncio.create_task(self._collect(subscription), name="usage-fetch")
                if batch:
                    with batch_spans(batch):
                        await self._write_until_done(batch)
                if last:
                    break
        finally:
            # After a cancellation or an error, messages fetched and not written are redelivered after the ack wait.
            if not collecting.done():
                collecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await collecting
            # A pull subscription left open makes the connection's drain wait for its full timeout.
            await subscription.unsubscribe()
            if self._flusher is not None:
                await self._flusher

    def stop(self) -> None:
        """Finish the batch in hand, then return from `run`."""
        self._stopping.set()

    async def _collect(self, subscription: JetStreamContext.PullSubscription) -> list[Msg]:
        """Gather up to `max_events` messages, waiting at most `max_wait` after the first."""
        batch: list[Msg] = []
        first_at: float | None = None
        while len(batch) < self._max_events and not self._stopping.is_set():
            if first_at is None:
                timeout = 1.0
            else:
                timeout = self._max_wait - (time.monotonic() - first_at)
                if timeout <= 0.001:
                    break
            try:
                messages = await subscription.fetch(self._max_events - len(batch), timeout=timeout)
            except TimeoutError:
                if batch:
                    break
                if self._outbox_behind:
                    self._start_flush()
                continue
            if first_at is None:
                first_at = time.monotonic()
            batch.extend(messages)
        return batch

    async def _write_until_done(self, batch: list[Msg]) -> None:
        events, duplicates, poison = _decode(batch)
        for message in poison:
            await message.term()
        BATCH_SIZE.observe(len(batch))

        recorded = RecordedBatch(new=[], outbox_token=None)
        while events:
            try:
                recorded = await self._write(events)
                break
            except (OSError, asyncpg.PostgresError, RuntimeError):
                logger.error(
                    "Writing a batch of %d usage events failed; retrying in %.0f s",
                    len(events),
                    _RETRY_DELAY_SECONDS,
                    exc_info=True,
                )
                await asyncio.sleep(_RETRY_DELAY_SECONDS)
        if not await self._announce_until_done(events):
            # Unacked, the batch comes back to the next consumer, which records nothing twice and publishes again.
            logger.warning("Stopped before the usage.recorded events of %d requests were stored", len(events))
            return

        for message, _event in events:
            await message.ack()
        for message in duplicates:
            await message.ack()
        self.batches_written += 1
        self.events_written += len(events)
        count_recorded(recorded.new, self._catalog, self._project_labels)
        USAGE_EVENTS.labels("recorded").inc(len(recorded.new))
        USAGE_EVENTS.labels("duplicate").inc(len(events) - len(recorded.new) + len(duplicates))
        USAGE_EVENTS.labels("invalid").inc(len(poison))

        if recorded.outbox_token is not None:
            self._start_flush()
            # The last request of each project in the batch is the one named by its budget events.
            await self._publish_budgets({event.project_id: event.request_id for event in recorded.new})

    async def _announce_until_done(self, events: list[tuple[Msg, UsageRecord]]) -> bool:
        """Publish the batch's public usage events; return False when `stop` was called before JetStream stored them."""
        try:
            encoded = usage_recorded_batch(events)
        except Exception:
            # A bug, which no retry fixes: the usage stays recorded, and subscribers miss these events.
            logger.error("Building the usage.recorded events of %d requests failed", len(events), exc_info=True)
            return True
        while True:
            try:
                await self._recorded.publish(encoded)
                return True
            except Exception:
                if self._stopping.is_set():
                    return False
                logger.error(
                    "Publishing %d usage.recorded events failed; retrying in %.0f s",
                    len(events),
                    _RETRY_DELAY_SECONDS,
                    exc_info=True,
                )
                await asyncio.sleep(_RETRY_DELAY_SECONDS)

    async def _write(self, events: list[tuple[Msg, UsageRecord]]) -> RecordedBatch:
        started = time.perf_counter()
        usage = [event for _message, event in events]
        recorded = await record_spend(self._pool, usage, usage_rows)
        BATCH_WRITE.observe(time.perf_counter() - started)
        logger.debug(
            "Recorded %d usage events (%d new) in %.1f ms",
            len(usage),
            len(recorded.new),
            (time.perf_counter() - started) * 1000,
        )
        return recorded

    def _start_flush(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_until_empty(), name="analytics-outbox")

    async def _flush_until_empty(self) -> None:
        try:
            while await self._flush_outbox() and not self._stopping.is_set():
                pass
        finally:
            self._flusher = None

    async def _flush_outbox(self) -> bool:
        """Deliver outbox blocks; return True when more are waiting and the last flush made progress."""
        try:
            before = self._outbox.blocks_written
            remaining = await self._outbox.flush()
        except (OSError, asyncpg.PostgresError):
            self._outbox_behind = True
            logger.error("Flushing the analytics outbox failed; will retry after the next batch", exc_info=True)
            return False
        self._outbox_behind = remaining > 0
        return remaining > 0 and self._outbox.blocks_written > before

    async def _publish_budgets(self, last_requests: dict[str, str]) -> None:
        """Tell the edges the new spend of capped projects, and raise their threshold events.

        `last_requests` maps each project of the batch to its last request id.
        """
        project_ids = last_requests.keys()
        try:
            records = await self._budgets.publish(project_ids)
            await self._budgets.check_thresholds(records, last_requests)
        except Exception:
            # The edges keep the older record, which only makes them more cautious.
            logger.error("Publishing the budgets of %d projects failed", len(project_ids), exc_info=True)


def _decode(batch: list[Msg]) -> tuple[list[tuple[Msg, UsageRecord]], list[Msg], list[Msg]]:
    """Split a batch into events to store, redeliveries of those, and invalid messages."""
    events: list[tuple[Msg, UsageRecord]] = []
    duplicates: list[Msg] = []
    poison: list[Msg] = []
    seen: set[str] = set()
    for message in batch:
        try:
            event = decode_usage(message.data)
        except InvalidUsageEvent:
            logger.error(
                "Terminated an invalid usage event (stream sequence %s)",
                message.metadata.sequence.stream,
                exc_info=True,
            )
            poison.append(message)
            continue
        if event.request_id in seen:
            duplicates.append(message)
            continue
        seen.add(event.request_id)
        events.append((message, event))
    return events, duplicates, poison
