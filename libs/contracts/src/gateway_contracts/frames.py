"""The edge-to-router wire format: a dispatch message and its reply frames.

The edge publishes one dispatch message to `bus.ROUTER_CHAT` with a reply
subject. The payload is the `DispatchMeta` JSON object, a newline, then the
chat request body as JSON. The router replies on the reply subject with a
sequence of frames, each one byte of `FrameKind` followed by its payload:

- streaming: CHUNK* (or CHUNKS*), then DONE or ERROR;
- non-streaming: RESPONSE or ERROR;
- HEARTBEAT at any time while the upstream is silent, so that the edge can
  tell a slow model from a dead router.

A CHUNKS frame carries several chunks that the router had in hand at once,
joined by newlines, in one NATS message instead of one each. It goes only
to an edge whose dispatch set `chunk_batches`, so an edge that predates it
keeps receiving CHUNK frames.

A frame larger than the server's max_payload travels through the object
store `bus.PAYLOAD_OBJECT_STORE`: the router stores the whole frame and sends
an OFFLOADED frame whose payload is the object name; the edge reads the
frame from the store, deletes it and handles it as if it had arrived whole.

The body is kept as bytes on both sides: the edge validated it once and the
router reads it without validating it again.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NotRequired, TypedDict

import orjson


class DispatchMeta(TypedDict):
    """Facts about a request that the edge adds and the body does not carry."""

    request_id: str
    project_id: str
    key_id: str
    # The catalog id after alias resolution, for example `openai/gpt-4o-mini`.
    model: str
    stream: bool
    include_usage: bool
    # Unix time in seconds at which the edge received the request.
    received_at: float
    session_id: NotRequired[str]
    # How many leading messages of the body came from the session's history.
    history_messages: NotRequired[int]
    # The turn the request continues from, when the client named one.
    parent_turn_id: NotRequired[str]
    # Object name in `bus.PAYLOAD_OBJECT_STORE` when the body was too large
    # for one NATS message; the dispatch then carries no body.
    body_ref: NotRequired[str]
    # Decimal strings: the worst-case cost that the edge reserved against the
    # project's and the key's daily budget, reported back in the usage event.
    reserved_project_usd: NotRequired[str]
    reserved_key_usd: NotRequired[str]
    # Whether the edge reads CHUNKS frames; absent means it does not.
    chunk_batches: NotRequired[bool]


class FrameKind(IntEnum):
    CHUNK = ord("c")
    CHUNKS = ord("s")
    DONE = ord("d")
    RESPONSE = ord("r")
    ERROR = ord("e")
    HEARTBEAT = ord("h")
    OFFLOADED = ord("o")


class ErrorFrame(TypedDict):
    """Payload of an ERROR frame: the HTTP status and OpenAI's error body."""

    status: int
    error: dict[str, object]
    # Seconds the client should wait before retrying, when the upstream gave a `retry-after`.
    retry_after: NotRequired[float]


DONE_FRAME = bytes([FrameKind.DONE])
HEARTBEAT_FRAME = bytes([FrameKind.HEARTBEAT])


def encode_dispatch(meta: DispatchMeta, body: bytes) -> bytes:
    return orjson.dumps(meta) + b"\n" + body


def decode_dispatch(data: bytes) -> tuple[DispatchMeta, bytes]:
    """Split a dispatch message into its meta object and the raw body."""
    head, _, body = data.partition(b"\n")
    meta: DispatchMeta = orjson.loads(head)
    return meta, body


def encode_frame(kind: FrameKind, payload: bytes = b"") -> bytes:
    return bytes([kind]) + payload


def encode_chunks_frame(chunks: list[bytes]) -> bytes:
    """Join stream chunks into one CHUNKS frame.

    Each chunk is one upstream `data:` line's JSON, which has no raw newline
    because an SSE line ends at one, and JSON writes newlines in strings as
    escapes.
    """
    return bytes([FrameKind.CHUNKS]) + b"\n".join(chunks)


def split_chunks(payload: bytes) -> list[bytes]:
    """Return the chunks of a CHUNKS frame's payload, in order."""
    return payload.split(b"\n")


def encode_error_frame(error: ErrorFrame) -> bytes:
    return bytes([FrameKind.ERROR]) + orjson.dumps(error)
