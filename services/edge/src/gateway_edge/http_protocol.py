"""uvicorn's httptools protocol, with the writes of one event loop iteration sent in one system call.

uvicorn 0.55 writes a response's status line and headers to the socket as
soon as the application sends `http.response.start`, and the body in a
second write, so every response costs two `write` system calls. Here the
writes of a connection are collected and go out together in a callback
that the event loop runs in its next iteration.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_CoalescingTransport(transport))  # type: ignore[arg-type]


class _CoalescingTransport:
    """A transport whose `write` calls are joined and sent by one callback per loop iteration."""

    __slots__ = ("_buffer", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._buffer: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._buffer:
            asyncio.get_running_loop().call_soon(self._flush)
        self._buffer.append(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def _flush(self) -> None:
        if not self._buffer:
            return
        data = self._buffer[0] if len(self._buffer) == 1 else b"".join(self._buffer)
        self._buffer.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        # Everything but `write` and `close` is the socket transport's own.
        return getattr(self._transport, name)
