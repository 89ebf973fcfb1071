"""A dispatched request's state on the router: the job, its unsent chunks and its outcome."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from gateway_contracts import CatalogEntry, CostBreakdown, DispatchMeta, RequestStatus, TokenUsage
from gateway_router.accumulator import ReplyAccumulator
from gateway_router.errors import RouterError
from gateway_router.providers import ProviderRoute

# Bytes of stream chunks sent in one CHUNKS frame at most, well below NATS's
# default max_payload of 1 MiB, so that a batch needs no object store.
_MAX_BATCH_BYTES = 256 * 1024


@dataclass(slots=True)
class Job:
    """A request in flight on this router."""

    meta: DispatchMeta
    reply_to: str
    # The dispatch message's headers, which carry the edge's trace context.
    headers: dict[str, str] | None = None
    last_frame_at: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None
    # Frames of this request sent through the object store so far.
    offloaded: int = 0
    # Stream frames without output (the role chunk, for one), held back so
    # that a failure before any output can still be retried. They go out with
    # the first output, or instead of the first heartbeat.
    held: list[bytes] = field(default_factory=list)
    # Whether anything but heartbeats reached the edge; from then on a
    # failure can be neither retried nor sent to another model.
    started: bool = False
    # Keeps the held frames ahead of later ones when the heartbeat loop releases them.
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(slots=True)
class ReadyChunks:
    """Stream chunks received and not sent yet."""

    chunks: list[bytes] = field(default_factory=list)
    size: int = 0

    def add(self, chunk: bytes) -> bool:
        """Keep `chunk`; returns whether enough bytes wait that they should go now."""
        self.chunks.append(chunk)
        self.size += len(chunk)
        return self.size >= _MAX_BATCH_BYTES

    def take(self) -> list[bytes]:
        chunks, self.chunks, self.size = self.chunks, [], 0
        return chunks


@dataclass(slots=True)
class Outcome:
    """What the usage and session events report about a finished request."""

    status: RequestStatus = "ok"
    http_status: int = 200
    error_code: str | None = None
    entry: CatalogEntry | None = None
    route: ProviderRoute | None = None
    upstream_model: str | None = None
    usage: TokenUsage | None = None
    # The cost of `usage`, once the provider reported it.
    cost: CostBreakdown | None = None
    body: dict[str, Any] | None = None
    reply: ReplyAccumulator = field(default_factory=ReplyAccumulator)
    message: dict[str, Any] | None = None
    first_token_at: float | None = None
    # The body with its https images replaced by their bytes, made once for
    # the providers that need them.
    inlined_body: dict[str, Any] | None = None

    session_event_sent: bool = False

    def reset_reply(self) -> None:
        self.reply = ReplyAccumulator()
        self.usage = None
        self.cost = None
        self.first_token_at = None

    def fail(self, error: RouterError) -> None:
        self.status = "error"
        self.http_status = error.status
        self.error_code = error.code
