"""Writing a stream response: paced, optionally split mid-character, and aware of a client that left."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from provider_emulator.directives import Directives
from provider_emulator.recorder import Recorder


class ClientGone(Exception):
    pass


async def sleep_unless_gone(request: web.Request, seconds: float) -> None:
    """Sleep, checking the connection often so that a client's disconnect is seen within 50 ms."""
    deadline = time.monotonic() + seconds
    while True:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ClientGone
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        await asyncio.sleep(min(remaining, 0.05))


class EventStream:
    """One streamed reply: `prepare`, then `write` each event, then `close`."""

    def __init__(self, request: web.Request, directives: Directives, recorder: Recorder, seq: int) -> None:
        self.request = request
        self.directives = directives
        self.response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        self._recorder = recorder
        self._seq = seq
        self.sent = 0

    async def prepare(self) -> None:
        await self.response.prepare(self.request)

    async def write(self, data: bytes, *, counts: bool = True) -> None:
        if self.directives.split:
            cut = _cut_point(data)
            await self.response.write(data[:cut])
            # A pause long enough for the two halves to leave as separate TCP segments.
            await asyncio.sleep(0.005)
            await self.response.write(data[cut:])
        else:
            await self.response.write(data)
        if counts:
            self.sent += 1
            if self.directives.delay_ms:
                await sleep_unless_gone(self.request, self.directives.delay_ms / 1000)

    async def close(self) -> None:
        await self.response.write_eof()

    def gone(self) -> None:
        self._recorder.record_disconnect(self._seq, self.sent)


def _cut_point(data: bytes) -> int:
    """The middle of the first multi-byte character, or the middle of the data."""
    for index, byte in enumerate(data):
        if byte >= 0xC0:
            return index + 1
    return max(1, len(data) // 2)
