"""The durable consumer of session events.

Ack policy: explicit, after the turns are committed. A redelivered event
finds its stream sequence already stored for its session and inserts
nothing. An event that does not validate is terminated with a log line.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from gateway_contracts import SessionTurnsEvent, bus
from gateway_contracts.telemetry import REQUEST_ID
from gateway_sessions.events import EventLog
from gateway_sessions.observability import FETCH_SIZE, SESSION_EVENTS, TURNS_STORED, event_span
from gateway_sessions.store import StoredEvent, store_pending

logger = logging.getLogger("gateway_sessions.consumer")

# When nothing is waiting, nats-py's fetch of a batch returns the first
# message that arrives only once the batch fills or the timeout passes
# (nats-py 2.16), and turns must be stored within milliseconds, so that
# history reads find them without storing them themselves. An idle consumer
# therefore fetches one message at a time, and one that has a backlog fetches
# batches with a short timeout.
_IDLE_FETCH_TIMEOUT_SECONDS = 1.0
_BATCH = 100
_BATCH_FETCH_TIMEOUT_SECONDS = 0.05
_RETRY_DELAY_SECONDS = 2.0


class TurnsConsumer:
    def __init__(self, js: JetStreamContext, pool: asyncpg.Pool, log: EventLog) -> None:
        self._js = js
        self._pool = pool
        self._log = log
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        subscription = await self._js.pull_subscribe(
            bus.SESSION_EVENT_SUBJECTS,
            durable=bus.SESSIONS_TURNS_CONSUMER,
            stream=bus.SESSION_STREAM.name,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, ack_wait=30.0),
        )
        logger.info("Consuming %s as %s", bus.SESSION_EVENT_SUBJECTS, bus.SESSIONS_TURNS_CONSUMER)
        try:
            batch = 1
            while not self._stopping.is_set():
                timeout = _IDLE_FETCH_TIMEOUT_SECONDS if batch == 1 else _BATCH_FETCH_TIMEOUT_SECONDS
                try:
                    messages = await subscription.fetch(batch, timeout=timeout)
                except TimeoutError:
                    batch = 1
                    continue
                batch = _BATCH if len(messages) == batch else 1
                FETCH_SIZE.observe(len(messages))
                for message in messages:
                    with event_span(message):
                        await self._handle(message)
        finally:
            # A pull subscription left open makes the connection's drain wait for its full timeout.
            await subscription.unsubscribe()

    async def _handle(self, message: Msg) -> None:
        try:
            event = SessionTurnsEvent.model_validate_json(message.data)
        except ValidationError as error:
            # The locations and types of the problems, but not the input: it holds the conversation's content.
            problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['type']}" for item in error.errors())
            logger.error(
                "Terminated an invalid session event (stream sequence %s): %s",
                message.metadata.sequence.stream,
                problems,
            )
            SESSION_EVENTS.labels("invalid").inc()
            await message.term()
            return
        token = REQUEST_ID.set(event.request_id)
        try:
            await self._store(message, event)
        finally:
            REQUEST_ID.reset(token)

    async def _store(self, message: Msg, event: SessionTurnsEvent) -> None:
        received = StoredEvent(message.metadata.sequence.stream, event)
        while True:
            try:
                added = await store_pending(self._pool, self._log, event.project_id, event.session_id, received)
                break
            except (OSError, asyncpg.PostgresError, NatsError):
                logger.error(
                    "Storing the turns of request %s failed; retrying in %.0f s",
                    event.request_id,
                    _RETRY_DELAY_SECONDS,
                    exc_info=True,
                )
                await asyncio.sleep(_RETRY_DELAY_SECONDS)
                if self._stopping.is_set():
                    # Not acked: the next start gets the event again.
                    return
        await message.ack()
        SESSION_EVENTS.labels("stored").inc()
        TURNS_STORED.inc(added)
        logger.debug("Stored %d turns of request %s in session %s", added, event.request_id, event.session_id)
