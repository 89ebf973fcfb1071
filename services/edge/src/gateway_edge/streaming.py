"""Server-sent events to the client, with the client's disconnect cancelling the request.

Starlette's StreamingResponse notices a disconnect only when a write fails,
which never happens while a model is silent. This response listens for
`http.disconnect` the whole time and cancels the stream at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway_contracts import FrameKind, error_body
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
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(status_code=200)
        self._router = router
        self._exchange = exchange
        self._first = first
        self._headers = _SSE_HEADERS + headers
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self._headers})
        completed = False
        try:
            async with anyio.create_task_group() as group:

                async def relay() -> None:
                    nonlocal completed
                    async for event in self._events():
                        await send({"type": "http.response.body", "body": event, "more_body": True})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    completed = True
                    group.cancel_scope.cancel()

                async def watch() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(relay)
                group.start_soon(watch)
        finally:
            with anyio.CancelScope(shield=True):
                if completed:
                    self._router.finish(self._exchange)
                else:
                    await self._router.cancel(self._exchange)
                if self._on_close is not None:
                    await self._on_close()

    async def _events(self) -> AsyncIterator[bytes]:
        frame = self._first
        while True:
            if frame.kind is FrameKind.CHUNK:
                observe_first_output()
                yield b"data: " + frame.payload + b"\n\n"
            elif frame.kind is FrameKind.HEARTBEAT:
                # An SSE comment: clients ignore it, proxies see the connection alive.
                yield b": keep-alive\n\n"
            elif frame.kind is FrameKind.DONE:
                yield b"data: [DONE]\n\n"
                return
            elif frame.kind is FrameKind.ERROR:
                # Headers are gone, so the error travels in the stream as
                # OpenAI's own streams report one: a `data:` event with `error`.
                error = orjson.loads(frame.payload)
                observe_error(str(error["error"]["error"]["code"]))
                yield b"data: " + orjson.dumps(error["error"]) + b"\n\n"
                return
            try:
                frame = await self._router.next_frame(self._exchange)
            except EdgeError as error:
                observe_error(error.code)
                yield b"data: " + orjson.dumps(error_body(error.code, error.message, error.param)) + b"\n\n"
                return
