"""Server-sent events to the client, with the client's disconnect cancelling the request.

Starlette's StreamingResponse notices a disconnect only when a write fails,
which never happens while a model is silent. Here the task that
`chat.watch_disconnect` started listens for `http.disconnect` the whole
time and ends the frames at once, so the request is cancelled. Frames that
have already arrived when one is sent go out with it in one write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway_contracts import FrameKind, error_body, split_chunks
from gateway_edge.errors import EdgeError
from gateway_edge.observability import observe_error, observe_first_output
from gateway_edge.router_client import Exchange, Frame, RouterClient

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    # Tells nginx-style proxies not to buffer the stream.
    (b"x-accel-buffering", b"no"),
]


class EventStreamResponse(Response):
    """A response that relays router frames as `data:` events until DONE or ERROR."""

    def __init__(
        self,
        router: RouterClient,
        exchange: Exchange,
        first: Frame,
        headers: list[tuple[bytes, bytes]],
        watcher: asyncio.Task[None],
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(status_code=200)
        self._router = router
        self._exchange = exchange
        self._first = first
        self._headers = _SSE_HEADERS + headers
        self._watcher = watcher
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        completed = False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self._headers})
            completed = await self._relay(send)
        finally:
            self._watcher.cancel()
            if completed:
                self._router.finish(self._exchange)
            else:
                await asyncio.shield(self._router.cancel(self._exchange))
            if self._on_close is not None:
                await asyncio.shield(self._on_close())

    async def _relay(self, send: Send) -> bool:
        """Send events until DONE or ERROR and return True, or return False once the client disconnected."""
        frame: Frame | None = self._first
        while frame is not None:
            events: list[bytes] = []
            while True:
                event, last = _event(frame)
                events.append(event)
                if last:
                    await send({"type": "http.response.body", "body": b"".join(events), "more_body": False})
                    return True
                if not self._router.has_frame(self._exchange):
                    break
                frame = await self._next()
                if frame is None:
                    return False
            await send({"type": "http.response.body", "body": b"".join(events), "more_body": True})
            frame = await self._next()
        return False

    async def _next(self) -> Frame | None:
        """Return the next frame, an ERROR frame for a failed wait, or None once the client disconnected."""
        try:
            return await self._router.next_frame(self._exchange)
        except EdgeError as error:
            body = {"status": error.status, "error": error_body(error.code, error.message, error.param)}
            return Frame(FrameKind.ERROR, orjson.dumps(body))


def _event(frame: Frame) -> tuple[bytes, bool]:
    """Render one frame as server-sent event bytes, and whether it ends the stream."""
    if frame.kind is FrameKind.CHUNK:
        observe_first_output()
        return b"data: " + frame.payload + b"\n\n", False
    if frame.kind is FrameKind.CHUNKS:
        observe_first_output()
        return b"".join(b"data: " + chunk + b"\n\n" for chunk in split_chunks(frame.payload)), False
    if frame.kind is FrameKind.HEARTBEAT:
        # An SSE comment: clients ignore it, proxies see the connection alive.
        return b": keep-alive\n\n", False
    if frame.kind is FrameKind.DONE:
        return b"data: [DONE]\n\n", True
    if frame.kind is not FrameKind.ERROR:
        return b"", False
    # Headers are gone, so an error travels in the stream as OpenAI's own
    # streams report one: a `data:` event with `error`.
    error = orjson.loads(frame.payload)
    observe_error(str(error["error"]["error"]["code"]))
    return b"data: " + orjson.dumps(error["error"]) + b"\n\n", True
