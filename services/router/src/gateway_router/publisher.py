"""JetStream publishing that never blocks a reply and never drops an event.

`EventPublisher.publish` queues the event and returns at once, without a
task or a future per event: a flusher task sends what is queued as plain
NATS publishes whose replies (JetStream's acks) arrive on one wildcard
subscription. Events without an ack after `ack_timeout` are published again
with the same `Nats-Msg-Id`, which JetStream deduplicates, so a retry cannot
count twice. `drain` waits for the outstanding acks at shutdown.
`publish_acked` waits for the ack instead, for an event that must be in the
stream before the client hears that its request ended.

With tracing on, each event gets a producer span under the request's span,
and its headers carry that span's context to the consumers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import MaxPayloadError
from nats.js import JetStreamContext
from opentelemetry.trace import SpanKind

from gateway_contracts import bus
from gateway_contracts.telemetry import trace_headers, tracer, tracing_enabled

logger = logging.getLogger("gateway_router.publisher")
_tracer = tracer("gateway_router")


@dataclass(slots=True)
class _Pending:
    subject: str
    payload: bytes
    msg_id: str
    # `Nats-Msg-Id`, and the trace context when tracing is on.
    headers: dict[str, str]
    sent_at: float = 0.0
    attempts: int = 0
    # The last segment of the reply subject of the attempt awaiting its ack; None when none is.
    token: str | None = None


class EventPublisher:
    def __init__(self, nc: NATS, js: JetStreamContext, ack_timeout: float) -> None:
        self._nc = nc
        self._js = js
        self._ack_timeout = ack_timeout
        self._pending: dict[str, _Pending] = {}
        # Attempts awaiting their ack, by reply token.
        self._awaiting: dict[str, _Pending] = {}
        self._queue: list[_Pending] = []
        self._queued = asyncio.Event()
        self._ack_prefix = f"{nc.new_inbox()}."
        self._counter = 0
        self._acks: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._drained = asyncio.Event()
        self._drained.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        self._acks = await self._nc.subscribe(
            self._ack_prefix + "*", cb=self._on_ack, pending_msgs_limit=-1, pending_bytes_limit=-1
        )
        self._tasks = [
            asyncio.create_task(self._flush_loop(), name="event-publisher-flush"),
            asyncio.create_task(self._retry_loop(), name="event-publisher-retry"),
        ]

    def publish(self, subject: str, payload: bytes, msg_id: str) -> None:
        """Queue an event for sending and track its ack; returns without waiting for either."""
        self._track(subject, payload, msg_id, _event_headers(subject, msg_id))

    async def publish_acked(self, subject: str, payload: bytes, msg_id: str) -> bool:
        """Publish and wait up to `ack_timeout` for the ack; returns whether it came.

        Without an ack the event is left to the retry loop, as `publish` does,
        so it is stored all the same, only later.
        """
        headers = _event_headers(subject, msg_id)
        try:
            await self._js.publish(subject, payload, timeout=self._ack_timeout, headers=headers)
        except MaxPayloadError:
            logger.error("Dropped event %s: %d bytes is more than the server's max_payload", msg_id, len(payload))
            return False
        except Exception:
            logger.warning("Event %s was not acked within %.1f s; will retry", msg_id, self._ack_timeout, exc_info=True)
            self._track(subject, payload, msg_id, headers)
            return False
        return True

    def _track(self, subject: str, payload: bytes, msg_id: str, headers: dict[str, str]) -> None:
        pending = _Pending(subject, payload, msg_id, headers)
        self._pending[msg_id] = pending
        self._drained.clear()
        self._queue.append(pending)
        self._queued.set()

    async def drain(self, timeout: float) -> None:
        """Wait until every event is acked, or log how many were not after `timeout`."""
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
        except TimeoutError:
            logger.error("Shut down with %d unacked events; they were not stored", len(self._pending))
        for task in self._tasks:
            task.cancel()
        if self._acks is not None:
            await self._acks.unsubscribe()

    async def flush(self) -> None:
        """Send the queued events now instead of in the flusher's next turn."""
        self._queued.clear()
        batch, self._queue = self._queue, []
        for pending in batch:
            await self._send(pending)

    async def _flush_loop(self) -> None:
        while True:
            await self._queued.wait()
            await self.flush()

    async def _send(self, pending: _Pending) -> None:
        if pending.token is not None:
            self._awaiting.pop(pending.token, None)
            pending.token = None
        self._counter += 1
        token = str(self._counter)
        pending.attempts += 1
        pending.sent_at = time.monotonic()
        try:
            await self._nc.publish(
                pending.subject, pending.payload, reply=self._ack_prefix + token, headers=pending.headers
            )
        except MaxPayloadError:
            # No retry can make it fit: drop it once, loudly, instead of every second forever.
            logger.error(
                "Dropped event %s: %d bytes is more than the server's max_payload", pending.msg_id, len(pending.payload)
            )
            self._forget(pending.msg_id)
            return
        except Exception:
            # Not connected, or the connection's buffer is full: the retry loop sends it again.
            logger.warning("Publish of event %s failed; will retry", pending.msg_id, exc_info=True)
            return
        pending.token = token
        self._awaiting[token] = pending

    async def _on_ack(self, msg: Msg) -> None:
        pending = self._awaiting.pop(msg.subject[len(self._ack_prefix) :], None)
        if pending is None:
            return
        pending.token = None
        # An ack is `{"stream": ..., "seq": ...}`. No stream on the subject
        # gives an empty message with a 503 status header; a refusal gives
        # `{"error": ...}`. Either way the retry loop sends the event again.
        if not msg.data or b'"error"' in msg.data:
            logger.warning("JetStream rejected event %s: %r; will retry", pending.msg_id, msg.data[:200])
            return
        self._forget(pending.msg_id)

    def _forget(self, msg_id: str) -> None:
        self._pending.pop(msg_id, None)
        if not self._pending:
            self._drained.set()

    async def _retry_loop(self) -> None:
        while True:
            await asyncio.sleep(min(self._ack_timeout, 1.0))
            now = time.monotonic()
            for pending in list(self._pending.values()):
                if pending.token is not None and now - pending.sent_at < self._ack_timeout:
                    continue
                if pending.attempts == 0:
                    # Still queued for the flusher.
                    continue
                if pending.attempts in (2, 10, 100):
                    logger.warning("Event %s still unacked after %d attempts", pending.msg_id, pending.attempts)
                await self._send(pending)


def _event_headers(subject: str, msg_id: str) -> dict[str, str]:
    """Return the event's headers: its `Nats-Msg-Id`, and with tracing on the context of a producer span."""
    headers = {"Nats-Msg-Id": msg_id}
    if not tracing_enabled():
        return headers
    # Session events go to one subject per session, so the span is named after their common prefix.
    template = bus.SESSION_EVENT_PREFIX if subject.startswith(f"{bus.SESSION_EVENT_PREFIX}.") else subject
    # The span marks the send; consumers continue the trace from the context it leaves in the headers.
    with _tracer.start_as_current_span(
        f"send {template}",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "nats",
            "messaging.operation.type": "send",
            "messaging.destination.name": subject,
            "messaging.destination.template": template,
            "messaging.message.id": msg_id,
        },
    ):
        trace_headers(headers)
    return headers
