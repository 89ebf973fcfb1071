"""Server-sent events read from an upstream body, as complete `data:` payloads."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import StreamReader

# An event can carry a whole generated image as base64, far beyond aiohttp's
# default line limit of twice its 64 KiB read buffer.
MAX_LINE_BYTES = 64 * 1024 * 1024


async def data_lines(content: StreamReader) -> AsyncIterator[bytes]:
    """Yield the payload of each `data:` line.

    Lines are split on bytes, so a multi-byte character that an upstream
    splits across network chunks arrives whole. Comments, `event:` and `id:`
    lines are skipped: OpenAI-compatible streams carry everything in `data:`.
    """
    while True:
        raw = await content.readline(max_line_length=MAX_LINE_BYTES)
        if not raw:
            return
        line = raw.rstrip(b"\r\n")
        if not line.startswith(b"data:"):
            continue
        payload = line[5:]
        yield payload[1:] if payload.startswith(b" ") else payload
