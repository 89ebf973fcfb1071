"""An OTLP/HTTP trace receiver for the test stack: it keeps every span the services export.

It decodes `ExportTraceServiceRequest` protobufs with opentelemetry-proto, as
a collector does, and can play a collector that is down: one that refuses
connections, or one that accepts them and never responds.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    # (trace id, span id) of each link.
    links: list[tuple[str, str]] = field(default_factory=list)
    status: str = "UNSET"
    events: list[str] = field(default_factory=list)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: _value(item.value) for item in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def _decode(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {item.key: _value(item.value) for item in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        service=str(resource.get("service.name", "")),
                        name=span.name,
                        kind=ProtoSpan.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes={item.key: _value(item.value) for item in span.attributes},
                        links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                        status=span.status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
                        events=[event.name for event in span.events],
                    )
                )
    return spans


class OtlpReceiver:
    """Listens on 127.0.0.1:`port` in the event loop it is started in."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._stalled: asyncio.Server | None = None
        self._stalled_writers: list[asyncio.StreamWriter] = []

    def spans(self, trace_id: str | None = None) -> list[ReceivedSpan]:
        with self._lock:
            return [span for span in self._spans if trace_id is None or span.trace_id == trace_id]

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._export)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._close_stalled()

    async def refuse(self) -> None:
        """Close the port, so that exporters get `connection refused`."""
        await self.stop()

    async def stall(self) -> None:
        """Accept connections on the port and never respond, as a collector that hangs does."""
        await self.stop()

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._stalled_writers.append(writer)
            while await reader.read(65536):
                pass

        self._stalled = await asyncio.start_server(hold, "127.0.0.1", self.port, reuse_address=True)

    async def resume(self) -> None:
        await self.stop()
        await self.start()

    async def _close_stalled(self) -> None:
        if self._stalled is None:
            return
        self._stalled.close()
        for writer in self._stalled_writers:
            writer.close()
        self._stalled_writers.clear()
        await self._stalled.wait_closed()
        self._stalled = None

    async def _export(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        spans = _decode(body)
        with self._lock:
            self._spans.extend(spans)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )
