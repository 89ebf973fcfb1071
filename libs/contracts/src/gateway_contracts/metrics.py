"""Prometheus metrics that several services share, and the rules that keep their labels bounded.

Every service registers its metrics in prometheus-client's default registry,
which `gateway serve` exposes on `/metrics`. Labels never carry request ids or
text from a request. A model label is a catalog id or `other`. A project label
is one of the operator's own project ids, or empty when the service's settings
turn project labels off, which Prometheus reads as no label.

Needs the `nats` extra.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from nats.js import JetStreamContext
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from gateway_contracts.records import CatalogEntry

__all__ = [
    "OTHER",
    "RPC_DURATION",
    "RPC_REQUESTS",
    "ConsumerLagMonitor",
    "labelled",
    "model_labels",
]

logger = logging.getLogger("gateway_contracts.metrics")

# The label value for anything outside a bounded set, such as a model that is not in the catalog.
OTHER = "other"

# Buckets in seconds for calls between services over NATS, which take about a millisecond when healthy.
_RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

RPC_REQUESTS = Counter(
    "gateway_rpc_requests",
    "Request/reply calls handled, by subject and outcome (ok, rejected, invalid, error).",
    ["subject", "outcome"],
)
RPC_DURATION = Histogram(
    "gateway_rpc_duration_seconds",
    "Time to handle a request/reply call, by subject.",
    ["subject"],
    buckets=_RPC_BUCKETS,
)
CONSUMER_PENDING = Gauge(
    "gateway_jetstream_consumer_pending",
    "Messages of the stream that the durable consumer has not been delivered yet (its lag).",
    ["stream", "consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "gateway_jetstream_consumer_ack_pending",
    "Messages delivered to the durable consumer and not acknowledged yet.",
    ["stream", "consumer"],
)


def model_labels(entry: CatalogEntry | None) -> tuple[str, str]:
    """Return the `model` and `provider` label values of a catalog entry, or `other` for both without one."""
    if entry is None:
        return OTHER, OTHER
    return entry.id, entry.provider


_CHILDREN: dict[tuple[MetricWrapperBase, tuple[str, ...]], Any] = {}


def labelled(metric: MetricWrapperBase, *values: str) -> Any:
    """Return `metric.labels(*values)`, kept after the first call for these values.

    `labels` takes a lock and converts every value on each call, about a
    microsecond, and the hot path records several labelled metrics per
    request. Label values are bounded (see above), so the cache is too.
    """
    key = (metric, values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*values)
    return child


class ConsumerLagMonitor:
    """Polls a durable consumer's info and publishes its pending counts as gauges.

    JetStream reports lag only on request, so a task requests it every
    `interval` seconds. A failed poll keeps the last values and is logged once
    per outage.
    """

    def __init__(self, js: JetStreamContext, stream: str, consumer: str, interval: float = 5.0) -> None:
        self._js = js
        self._stream = stream
        self._consumer = consumer
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._pending = CONSUMER_PENDING.labels(stream, consumer)
        self._ack_pending = CONSUMER_ACK_PENDING.labels(stream, consumer)

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll_forever(), name=f"lag-{self._consumer}")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def poll(self) -> None:
        info = await self._js.consumer_info(self._stream, self._consumer, timeout=2.0)
        self._pending.set(info.num_pending or 0)
        self._ack_pending.set(info.num_ack_pending or 0)

    async def _poll_forever(self) -> None:
        failing = False
        while True:
            # The first poll waits too, so that the consumer the service creates at start exists by then.
            await asyncio.sleep(self._interval)
            try:
                await self.poll()
                failing = False
            except Exception as error:
                if not failing:
                    logger.warning("Reading the lag of consumer %s failed: %s", self._consumer, error)
                failing = True
