"""The durable consumer of usage events: batches into ClickHouse and PostgreSQL.

Ack policy: explicit, after both stores have the batch. A crash before the
ack redelivers the batch; PostgreSQL ignores request ids it has (primary
key) and ClickHouse folds duplicates (ReplacingMergeTree on the request id),
so every request is counted exactly once. A message that does not validate
as a `UsageEvent` can never succeed and is terminated, with a log line.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from gateway_accounting.analytics import USAGE_TABLE, AnalyticsStore, usage_rows
from gateway_accounting.spend import record_spend
from gateway_contracts import UsageEvent, bus

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
        store: AnalyticsStore,
        max_events: int,
        max_wait: float,
    ) -> None:
        self._js = js
        self._pool = pool
        self._store = store
        self._max_events = max_events
        self._max_wait = max_wait
        self._stopping = asyncio.Event()
        self.batches_written = 0
        self.events_written = 0

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
        try:
            while not self._stopping.is_set():
                batch = await self._collect(subscription)
                if batch:
                    await self._write_until_done(batch)
        finally:
            # A pull subscription left open makes the connection's drain wait for its full timeout.
            await subscription.unsubscribe()

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
                continue
            if first_at is None:
                first_at = time.monotonic()
            batch.extend(messages)
        return batch

    async def _write_until_done(self, batch: list[Msg]) -> None:
        events, duplicates, poison = _decode(batch)
        for message in poison:
            await message.term()

        while events:
            try:
                await self._write(events)
                break
            except (OSError, asyncpg.PostgresError, RuntimeError):
                logger.error(
                    "Writing a batch of %d usage events failed; retrying in %.0f s",
                    len(events),
                    _RETRY_DELAY_SECONDS,
                    exc_info=True,
                )
                await asyncio.sleep(_RETRY_DELAY_SECONDS)

        for message, _event in events:
            await message.ack()
        for message in duplicates:
            await message.ack()
        self.batches_written += 1
        self.events_written += len(events)

    async def _write(self, events: list[tuple[Msg, UsageEvent]]) -> None:
        started = time.perf_counter()
        usage = [event for _message, event in events]
        # ClickHouse first: if PostgreSQL then fails, the retry writes the
        # same rows to ClickHouse again and they fold into one.
        await self._store.insert_json_rows(USAGE_TABLE, usage_rows(usage))
        await record_spend(self._pool, usage)
        logger.debug("Stored %d usage events in %.1f ms", len(usage), (time.perf_counter() - started) * 1000)


def _decode(batch: list[Msg]) -> tuple[list[tuple[Msg, UsageEvent]], list[Msg], list[Msg]]:
    """Split a batch into events to store, redeliveries of those, and invalid messages."""
    events: list[tuple[Msg, UsageEvent]] = []
    duplicates: list[Msg] = []
    poison: list[Msg] = []
    seen: set[str] = set()
    for message in batch:
        try:
            event = UsageEvent.model_validate_json(message.data)
        except ValidationError:
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
