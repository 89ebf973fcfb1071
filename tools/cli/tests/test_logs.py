"""The request context on log lines, and the limit on repeated SDK lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from gateway_cli import logs
from gateway_contracts.telemetry import REQUEST_ID


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Route the root logger through `logs.configure` into a buffer, and restore it afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logs.configure("router", "json", "INFO")
    stream = io.StringIO()
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]  # a StreamHandler
    yield stream
    root.handlers[:], level = saved
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_line_outside_a_request_has_no_context(captured: io.StringIO) -> None:
    logging.getLogger("gateway_router").info("Router ready")

    [line] = lines(captured)
    assert line == {
        "time": line["time"],
        "level": "INFO",
        "logger": "gateway_router",
        "message": "Router ready",
        "service": "router",
    }


def test_line_in_a_request_names_it_and_its_trace(captured: io.StringIO) -> None:
    tracer = TracerProvider().get_tracer("test")
    token = REQUEST_ID.set("req_1")
    try:
        with tracer.start_as_current_span("process") as span:
            logging.getLogger("gateway_router.dispatch").warning("Request %s failed", "req_1")
    finally:
        REQUEST_ID.reset(token)

    [line] = lines(captured)
    context = span.get_span_context()
    assert line["request_id"] == "req_1"
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert line["level"] == "WARNING"


def test_console_lines_end_with_the_context() -> None:
    formatter = logs.ConsoleFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("gateway_edge", logging.INFO, __file__, 1, "Answered", (), None)
    record.request_id = "req_2"

    assert formatter.format(record) == "INFO Answered [request_id=req_2]"


def test_repeated_sdk_lines_are_held_back() -> None:
    repeats = logs.RepeatFilter("opentelemetry", interval=60)

    def record(name: str, message: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.WARNING, __file__, 1, message, ("Span",), None)

    first = record("opentelemetry.sdk._shared_internal", "Queue full, dropping %s.")
    assert repeats.filter(first)
    assert not hasattr(first, "repeats_suppressed")
    assert not repeats.filter(record("opentelemetry.sdk._shared_internal", "Queue full, dropping %s."))
    assert not repeats.filter(record("opentelemetry.sdk._shared_internal", "Queue full, dropping %s."))
    # Another message, and another logger's repeats, are not held back.
    assert repeats.filter(record("opentelemetry.exporter", "Transient error %s"))
    assert repeats.filter(record("gateway_router", "Queue full, dropping %s."))
    assert repeats.filter(record("gateway_router", "Queue full, dropping %s."))


def test_held_back_lines_are_counted_on_the_next_one(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: now[0])
    repeats = logs.RepeatFilter("opentelemetry", interval=60)
    message = "Queue full, dropping %s."

    def emit() -> logging.LogRecord | None:
        record = logging.LogRecord("opentelemetry.sdk", logging.WARNING, __file__, 1, message, ("Span",), None)
        return record if repeats.filter(record) else None

    assert emit() is not None
    now[0] += 10
    assert emit() is None
    assert emit() is None
    now[0] += 60
    let_through = emit()

    assert let_through is not None
    assert let_through.repeats_suppressed == 2
