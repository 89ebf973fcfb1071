"""OpenTelemetry tracing for one service process, configured once by `gateway serve`.

Services trace through the OpenTelemetry API. This module installs the SDK
only when an OTLP endpoint is configured, with the standard variables:

- `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`: where
  spans go. Unset, nothing is installed and tracing costs nothing.
- `OTEL_TRACES_EXPORTER`: `otlp` (the default) or `none`; `OTEL_SDK_DISABLED=true`
  also turns tracing off.
- `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc`
  (the default, as the Python SDK's own auto-configuration has it) or
  `http/protobuf`.
- `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`,
  `OTEL_BSP_*` and the exporter's `OTEL_EXPORTER_OTLP_*` headers, timeout and
  TLS settings, which the SDK reads itself.

Spans leave through a batch processor: ending a span puts it in a bounded
queue (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048 spans by default) that a background
thread exports. A request therefore never waits for a collector that is slow
or down, and when the queue is full, new spans are dropped.
`tests/test_observability.py` checks both with a collector that refuses
connections and with one that never answers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

logger = logging.getLogger("gateway_cli.tracing")

PROTOCOLS = ("grpc", "http/protobuf")
# The variables that decide whether and where spans are exported, read here and by the SDK.
VARIABLES = frozenset(
    {
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_PROPAGATORS",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BSP_EXPORT_TIMEOUT",
    }
)
# Milliseconds that stopping a service waits for its last spans to leave.
_SHUTDOWN_TIMEOUT_MS = 5000


class TracingConfigError(Exception):
    """An OTEL_* variable has a value this gateway cannot honour; the message names it."""


@dataclass(frozen=True, slots=True)
class TracingConfig:
    endpoint: str
    protocol: str


def read_config(env: Mapping[str, str]) -> TracingConfig | None:
    """Return the exporter to install, or None when tracing is off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporter = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if exporter == "none":
        return None
    if exporter != "otlp":
        raise TracingConfigError(f"OTEL_TRACES_EXPORTER={exporter!r} is not supported; use `otlp` or `none`.")
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return None
    variable = (
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
        if env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        else "OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    protocol = env.get(variable, "grpc").strip().lower() or "grpc"
    if protocol not in PROTOCOLS:
        raise TracingConfigError(f"{variable}={protocol!r} is not supported; use `grpc` or `http/protobuf`.")
    return TracingConfig(endpoint=endpoint, protocol=protocol)


@dataclass(frozen=True, slots=True)
class Tracing:
    """The installed provider and its one batch processor."""

    provider: TracerProvider
    processor: BatchSpanProcessor

    def shutdown(self) -> None:
        """Export the spans still queued, giving up after a few seconds when the collector does not take them."""
        self.processor.shutdown(timeout_millis=_SHUTDOWN_TIMEOUT_MS)
        self.provider.shutdown()


def configure(service: str, env: Mapping[str, str] | None = None) -> Tracing | None:
    """Install a tracer provider that exports over OTLP, or nothing when tracing is off."""
    config = read_config(os.environ if env is None else env)
    if config is None:
        return None
    # The SDK's own exit hook would wait up to 30 s for a collector that is
    # down; `Tracing.shutdown` bounds that wait instead.
    provider = TracerProvider(resource=_resource(service), shutdown_on_exit=False)
    processor = BatchSpanProcessor(_exporter(config.protocol))
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    logger.info("Exporting traces to %s over %s", _without_userinfo(config.endpoint), config.protocol)
    return Tracing(provider, processor)


def _without_userinfo(url: str) -> str:
    """Return `url` without a user name or password, for the log."""
    parts = urlsplit(url)
    if parts.hostname is None or "@" not in parts.netloc:
        return url
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=host))


def _resource(service: str) -> Resource:
    """Build the SDK's resource from the environment, named `gateway-SERVICE` unless the environment names it."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: f"gateway-{service}"}))
    return resource


def _exporter(protocol: str) -> SpanExporter:
    # Each exporter reads its endpoint, headers, timeout and TLS settings from the environment.
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter()
