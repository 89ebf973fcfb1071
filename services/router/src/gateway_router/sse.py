"""Server-sent events read from an upstream body, as complete `data:` payloads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import StreamReader
from aiohttp.http_exceptions import LineTooLong

# An event can carry a whole generated image as base64, far beyond aiohttp's
# default line limit of twice its 64 KiB read buffer.
MAX_LINE_BYTES = 64 * 1024 * 1024


class DataLines:
    """The payload of each `data:` line of a body, as an async iterator.

    Lines are split on bytes, so a multi-byte character that an upstream
    splits across network chunks arrives whole. Comments, `event:` and `id:`
    lines are skipped: OpenAI-compatible streams carry everything in `data:`.
    The body is read as it arrives and split here. One `readline` per line
    took about 9% of the router's py-spy samples under the benchmark's
    streaming load, because every event is two lines and aiohttp's
    `readuntil` is Python.

    `before_read`, when set, is awaited before each read from the body, so
    that what the lines read so far produced can be sent on before the
    reader may have to wait for the network.
    """

    def __init__(self, content: StreamReader, before_read: Callable[[], Awaitable[None]] | None = None) -> None:
        self._content = content
        self._before_read = before_read
        self._lines = self._read()

    def __aiter__(self) -> DataLines:
        return self

    async def __anext__(self) -> bytes:
        return await self._lines.__anext__()

    async def _read(self) -> AsyncIterator[bytes]:
        partial = bytearray()
        while True:
            if self._before_read is not None:
                await self._before_read()
            block = await self._content.readany()
            if not block:
                break
            if b"\n" not in block:
                partial += block
                if len(partial) > MAX_LINE_BYTES:
                    raise LineTooLong(bytes(partial[:100]) + b"...", MAX_LINE_BYTES)
                continue
            data = bytes(partial) + block if partial else block
            *lines, tail = data.split(b"\n")
            partial = bytearray(tail)
            for line in lines:
                payload = _payload(line)
                if payload is not None:
                    yield payload
        if partial:
            payload = _payload(bytes(partial))
            if payload is not None:
                yield payload


def data_lines(content: StreamReader, before_read: Callable[[], Awaitable[None]] | None = None) -> DataLines:
    return DataLines(content, before_read)


def _payload(line: bytes) -> bytes | None:
    line = line.rstrip(b"\r")
    if not line.startswith(b"data:"):
        return None
    payload = line[5:]
    return payload[1:] if payload.startswith(b" ") else payload
