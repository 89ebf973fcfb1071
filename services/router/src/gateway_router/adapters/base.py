"""The adapter interface, in three steps: build the request, read the reply, classify a failure."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway_contracts import CatalogEntry, ReasoningPlan, TokenUsage
from gateway_router.errors import UpstreamFailed
from gateway_router.providers import ProviderRoute


@dataclass(slots=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class ParsedResponse:
    """A non-streaming reply, normalized to OpenAI's `chat.completion`."""

    body: bytes
    usage: TokenUsage
    # The first choice's message, for the session history.
    message: dict[str, Any] | None
    upstream_model: str
    # `body` parsed, when the adapter has it, so that adding the cost needs no second parse.
    document: dict[str, Any] | None = None


@dataclass(slots=True)
class StreamPiece:
    """One normalized stream event.

    `payload` is the `chat.completion.chunk` JSON to forward, and `chunk` the
    same object parsed. A piece that carries `usage` is the stream's usage
    chunk, which the client receives only when it asked for it.
    """

    payload: bytes
    chunk: dict[str, Any]
    usage: TokenUsage | None = None


@dataclass(slots=True)
class CallContext:
    """What an adapter needs to know about one call besides the body."""

    entry: CatalogEntry
    route: ProviderRoute
    stream: bool
    # The client's reasoning request fitted to this model; None keeps the provider's default.
    plan: ReasoningPlan | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Adapter(Protocol):
    # Whether the provider needs the bytes of https images, which the router
    # then fetches and inlines before `build_request`.
    inlines_image_urls: bool

    def build_request(self, body: dict[str, Any], context: CallContext) -> UpstreamRequest: ...

    def parse_response(self, data: bytes, context: CallContext) -> ParsedResponse: ...

    def parse_stream(self, lines: AsyncIterator[bytes], context: CallContext) -> AsyncIterator[StreamPiece]: ...

    def classify_error(
        self, status: int, body: bytes, headers: Mapping[str, str], context: CallContext
    ) -> UpstreamFailed: ...
