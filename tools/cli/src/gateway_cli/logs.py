"""Logging for every service process, configured once by `gateway serve`.

Services themselves never configure logging; they log through named loggers
and this module decides the format: JSON lines for machines (the default),
or plain lines for a person watching `gateway up`.

Every line emitted while a request or one of its events is handled carries
the gateway's `request_id`, and with tracing on the `trace_id` and `span_id`
of the span in hand, so that one request's lines can be found across the
services and next to its trace.
"""

from __future__ import annotations

import logging
import sys
import time

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from gateway_contracts.telemetry import REQUEST_ID

_CONSOLE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Record attributes that the filter adds, in the order the console shows them.
_CONTEXT_FIELDS = ("request_id", "trace_id")
# Loggers whose repeated lines are held back: the OpenTelemetry SDK logs one
# line per dropped span while its queue is full, which during a collector
# outage would be one line per request.
_RATE_LIMITED_PREFIX = "opentelemetry"
_REPEAT_INTERVAL_SECONDS = 60.0


class RequestContextFilter(logging.Filter):
    """Adds `request_id`, `trace_id` and `span_id` to records emitted while they are known."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is not None:
            record.request_id = request_id
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


class RepeatFilter(logging.Filter):
    """Lets one record per message template of `prefix` loggers through every `interval` seconds.

    The next record let through carries in `repeats_suppressed` the number held back.
    """

    def __init__(self, prefix: str, interval: float) -> None:
        super().__init__()
        self._prefix = prefix
        self._interval = interval
        # Message template -> (monotonic time of the last record let through, records held back since).
        self._seen: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._prefix):
            return True
        now = time.monotonic()
        key = str(record.msg)
        last, held_back = self._seen.get(key, (None, 0))
        if last is not None and now - last < self._interval:
            self._seen[key] = (last, held_back + 1)
            return False
        self._seen[key] = (now, 0)
        if held_back:
            record.repeats_suppressed = held_back
        return True


class ConsoleFormatter(logging.Formatter):
    """Plain lines, with the request id and trace id appended when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = [f"{name}={getattr(record, name)}" for name in _CONTEXT_FIELDS if hasattr(record, name)]
        return f"{line} [{' '.join(context)}]" if context else line


def configure(service: str, fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "console":
        handler.setFormatter(ConsoleFormatter(_CONSOLE_FORMAT, "%H:%M:%S"))
    else:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                static_fields={"service": service},
                timestamp=False,
            )
        )
    handler.addFilter(RepeatFilter(_RATE_LIMITED_PREFIX, _REPEAT_INTERVAL_SECONDS))
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # nats-py logs every reconnect attempt at ERROR; one line per outage is enough.
    logging.getLogger("nats").setLevel(logging.CRITICAL)
