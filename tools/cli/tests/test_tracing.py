"""When `gateway serve` installs tracing, and with which exporter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import SERVICE_NAME

from gateway_cli.tracing import TracingConfig, TracingConfigError, _exporter, _resource, _without_userinfo, read_config

ENDPOINT = "http://collector:4317"


def test_tracing_is_off_without_an_endpoint() -> None:
    assert read_config({}) is None
    assert read_config({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}) is None


def test_endpoint_turns_tracing_on_over_grpc() -> None:
    assert read_config({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}) == TracingConfig(ENDPOINT, "grpc")


def test_traces_variables_take_precedence() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/v1/traces",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
    }

    assert read_config(env) == TracingConfig("http://traces:4318/v1/traces", "http/protobuf")


@pytest.mark.parametrize(
    "switch", [{"OTEL_TRACES_EXPORTER": "none"}, {"OTEL_SDK_DISABLED": "true"}, {"OTEL_SDK_DISABLED": "TRUE"}]
)
def test_standard_switches_turn_tracing_off(switch: dict[str, str]) -> None:
    assert read_config({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT, **switch}) is None


def test_unsupported_protocol_names_its_variable() -> None:
    with pytest.raises(TracingConfigError) as caught:
        read_config({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"})

    assert str(caught.value) == (
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL='http/json' is not supported; use `grpc` or `http/protobuf`."
    )


def test_unsupported_exporter_is_rejected() -> None:
    with pytest.raises(TracingConfigError) as caught:
        read_config({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT, "OTEL_TRACES_EXPORTER": "zipkin"})

    assert str(caught.value) == "OTEL_TRACES_EXPORTER='zipkin' is not supported; use `otlp` or `none`."


def test_each_protocol_gets_its_exporter() -> None:
    assert isinstance(_exporter("grpc"), GrpcExporter)
    assert isinstance(_exporter("http/protobuf"), HttpExporter)


def test_service_name_defaults_to_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    assert _resource("router").attributes[SERVICE_NAME] == "gateway-router"

    monkeypatch.setenv("OTEL_SERVICE_NAME", "router-eu-1")
    assert _resource("router").attributes[SERVICE_NAME] == "router-eu-1"


def test_serve_refuses_an_invalid_tracing_variable() -> None:
    gateway = Path(sys.executable).parent / "gateway"
    result = subprocess.run(
        [str(gateway), "serve", "catalog"],
        env={"PATH": "/usr/bin:/bin", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "gateway serve: OTEL_EXPORTER_OTLP_PROTOCOL='thrift' is not supported; use `grpc` or `http/protobuf`."
    )


def test_logged_endpoint_leaves_out_credentials() -> None:
    assert _without_userinfo("https://user:secret@collector:4318") == "https://collector:4318"
    assert _without_userinfo("http://collector:4317") == "http://collector:4317"
