"""What the emulator received, kept for tests to assert on."""

from __future__ import annotations

import time
from collections import deque
from typing import Any


class Recorder:
    """Bounded logs of received requests and of clients that went away mid-reply."""

    def __init__(self, limit: int) -> None:
        self.requests: deque[dict[str, Any]] = deque(maxlen=limit)
        self.disconnects: deque[dict[str, Any]] = deque(maxlen=limit)
        self._sequence = 0

    def record_request(self, path: str, headers: dict[str, str], body: Any) -> int:
        self._sequence += 1
        self.requests.append({"seq": self._sequence, "path": path, "headers": headers, "body": body, "at": time.time()})
        return self._sequence

    def record_disconnect(self, seq: int, chunks_sent: int) -> None:
        self.disconnects.append({"seq": seq, "chunks_sent": chunks_sent, "at": time.time()})

    def clear(self) -> None:
        self.requests.clear()
        self.disconnects.clear()
