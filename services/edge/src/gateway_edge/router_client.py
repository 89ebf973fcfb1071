"""The edge's end of the dispatch protocol: send a request to the routers, receive its frames.

One wildcard subscription receives the frames of every request in flight on
this edge; each request has its own reply subject under it and a queue that
the subscription fills. This costs no SUB/UNSUB round trip per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from enum import Enum

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from gateway_contracts import DispatchMeta, FrameKind, bus, encode_dispatch
from gateway_contracts.telemetry import trace_headers
from gateway_edge.errors import EdgeError

logger = logging.getLogger("gateway_edge.router_client")

# Room left in a NATS message for the protocol line and the dispatch meta.
_ENVELOPE_RESERVE = 16 * 1024


@dataclass(frozen=True, slots=True)
class Frame:
    kind: FrameKind
    payload: bytes


class _Signal(Enum):
    IDLE = "idle"
    OVERFLOW = "overflow"
    DISCONNECTED = "disconnected"


@dataclass(slots=True)
class Exchange:
    """One request's frames as they arrive from the router."""

    request_id: str
    token: str
    queue: asyncio.Queue[Msg | _Signal] = field(default_factory=asyncio.Queue)
    last_activity: float = field(default_factory=time.monotonic)
    # Bytes received from the router that the client has not taken yet.
    buffered: int = 0
    overflowed: bool = False
    finished: bool = False


class RouterClient:
    def __init__(self, nc: NATS, js: JetStreamContext, idle_timeout: float, max_buffered_bytes: int) -> None:
        self._nc = nc
        self._js = js
        self._idle_timeout = idle_timeout
        self._max_buffered = max_buffered_bytes
        self._prefix = f"{nc.new_inbox()}."
        self._exchanges: dict[str, Exchange] = {}
        self._subscription: Subscription | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._counter = 0

    async def start(self) -> None:
        self._subscription = await self._nc.subscribe(
            self._prefix + "*", cb=self._on_frame, pending_msgs_limit=-1, pending_bytes_limit=-1
        )
        self._sweeper = asyncio.create_task(self._sweep_idle(), name="router-idle-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._subscription is not None:
            await self._subscription.unsubscribe()

    @property
    def in_flight(self) -> int:
        return len(self._exchanges)

    async def dispatch(self, meta: DispatchMeta, body: bytes) -> Exchange:
        """Send the request to one router of the queue group; frames then arrive on the exchange."""
        self._counter += 1
        token = str(self._counter)
        exchange = Exchange(request_id=meta["request_id"], token=token)
        self._exchanges[token] = exchange

        try:
            payload = await self._payload(meta, body)
            # The router's span continues the request's trace from these headers.
            await self._nc.publish(bus.ROUTER_CHAT, payload, reply=self._prefix + token, headers=trace_headers())
        except BaseException:
            self._exchanges.pop(token, None)
            raise
        return exchange

    async def next_frame(self, exchange: Exchange) -> Frame | None:
        """Wait for the request's next frame, or None once its client disconnected.

        Raises EdgeError when the router is gone or silent, or the client reads too slowly.
        """
        msg = await exchange.queue.get()
        if msg is _Signal.DISCONNECTED:
            return None
        if msg is _Signal.IDLE:
            raise EdgeError(
                "router_unavailable",
                f"The router sent nothing for {self._idle_timeout:.0f} s; the request was abandoned.",
                status=504,
            )
        if msg is _Signal.OVERFLOW:
            raise EdgeError(
                "client_too_slow",
                f"The client read the stream too slowly: more than {self._max_buffered} bytes were waiting "
                "for it, so the request was cancelled.",
            )
        assert isinstance(msg, Msg)
        exchange.buffered -= len(msg.data)
        if not msg.data and msg.headers and msg.headers.get("Status") == "503":
            raise EdgeError("router_unavailable", "No router is running to serve the request; retry shortly.")

        kind = FrameKind(msg.data[0])
        if kind is not FrameKind.OFFLOADED:
            return Frame(kind, msg.data[1:])
        frame = await self._fetch_offloaded(msg.data[1:].decode())
        return Frame(FrameKind(frame[0]), frame[1:])

    async def _fetch_offloaded(self, name: str) -> bytes:
        store = await self._js.object_store(bus.PAYLOAD_OBJECT_STORE)
        result = await store.get(name)
        await store.delete(name)
        return result.data or b""

    def has_frame(self, exchange: Exchange) -> bool:
        """Whether `next_frame` would return without waiting."""
        return not exchange.queue.empty()

    def client_disconnected(self, exchange: Exchange) -> None:
        """Make `next_frame` return None once the frames already received are taken."""
        exchange.queue.put_nowait(_Signal.DISCONNECTED)

    def finish(self, exchange: Exchange) -> None:
        """Forget the exchange once its last frame arrived."""
        exchange.finished = True
        self._exchanges.pop(exchange.token, None)

    async def cancel(self, exchange: Exchange) -> None:
        """Tell the routers to stop the request, because its client went away."""
        self._exchanges.pop(exchange.token, None)
        if exchange.finished:
            return
        exchange.finished = True
        await self._nc.publish(bus.ROUTER_CANCEL, exchange.request_id.encode())

    async def _payload(self, meta: DispatchMeta, body: bytes) -> bytes:
        if len(body) + _ENVELOPE_RESERVE <= self._nc.max_payload:
            return encode_dispatch(meta, body)
        # Too large for one message on this server: the body goes to the
        # object store and the dispatch carries its name.
        store = await self._js.object_store(bus.PAYLOAD_OBJECT_STORE)
        await store.put(meta["request_id"], body)
        meta["body_ref"] = meta["request_id"]
        return encode_dispatch(meta, b"")

    async def _on_frame(self, msg: Msg) -> None:
        exchange = self._exchanges.get(msg.subject[len(self._prefix) :])
        if exchange is None or exchange.overflowed:
            return
        exchange.last_activity = time.monotonic()
        exchange.buffered += len(msg.data)
        if exchange.buffered <= self._max_buffered:
            exchange.queue.put_nowait(msg)
            return

        # The client reads slower than the model writes. Holding everything
        # would let one slow reader exhaust the edge's memory, so the request
        # ends here and the upstream is released.
        logger.warning("Request %s cancelled: its client is too slow", exchange.request_id)
        exchange.overflowed = True
        exchange.finished = True
        self._exchanges.pop(exchange.token, None)
        exchange.queue.put_nowait(_Signal.OVERFLOW)
        await self._nc.publish(bus.ROUTER_CANCEL, exchange.request_id.encode())

    async def _sweep_idle(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for exchange in list(self._exchanges.values()):
                if now - exchange.last_activity > self._idle_timeout:
                    logger.warning("Request %s timed out waiting for the router", exchange.request_id)
                    exchange.last_activity = now
                    exchange.queue.put_nowait(_Signal.IDLE)
