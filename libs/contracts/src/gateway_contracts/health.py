"""Liveness and readiness of one service process.

`gateway serve` creates a `ServiceHealth`, hands it to the service's
`serve(stop, health)` and reports it on the metrics port as `GET /healthz`
(liveness) and `GET /readyz` (readiness). The service marks itself ready when
it has finished starting and registers what must stay true while it runs.

Liveness fails only for what a restart fixes, such as a consumer task that
ended. Readiness also fails while the service starts or stops, or while a
dependency such as the NATS connection is down, because restarting the
process would not bring NATS back.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Phase", "ProbeResult", "ServiceHealth"]

logger = logging.getLogger("gateway_contracts.health")


class Phase(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one probe: whether it passed, and the names of the failing checks."""

    service: str
    phase: Phase
    failing: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failing

    def as_json(self) -> dict[str, object]:
        return {"service": self.service, "phase": self.phase.value, "failing": list(self.failing)}


class ServiceHealth:
    def __init__(self, service: str) -> None:
        self.service = service
        self.phase = Phase.STARTING
        self._liveness: dict[str, Callable[[], bool]] = {}
        self._readiness: dict[str, Callable[[], bool]] = {}

    def mark_ready(self) -> None:
        """Record that start-up finished; a stopping service stays stopping."""
        if self.phase is Phase.STARTING:
            self.phase = Phase.READY

    def mark_stopping(self) -> None:
        self.phase = Phase.STOPPING

    def add_readiness_check(self, name: str, check: Callable[[], bool]) -> None:
        """Register `check`, which returns False while the service cannot serve, under `name`."""
        self._readiness[name] = check

    def add_liveness_check(self, name: str, check: Callable[[], bool]) -> None:
        """Register `check`, which returns False once only a restart can help, under `name`."""
        self._liveness[name] = check

    def watch_task(self, task: asyncio.Task[object]) -> None:
        """Fail liveness once `task` has ended while the service is not stopping.

        For tasks that run for the life of the service, such as a JetStream
        consumer: if one ends early, the process is up but does no work.
        """
        self.add_liveness_check(
            f"task {task.get_name()} is running", lambda: not task.done() or self.phase is Phase.STOPPING
        )

    def liveness(self) -> ProbeResult:
        return ProbeResult(self.service, self.phase, _failing(self._liveness))

    def readiness(self) -> ProbeResult:
        failing = _failing(self._liveness) + _failing(self._readiness)
        if self.phase is not Phase.READY:
            failing = (f"service is {self.phase.value}", *failing)
        return ProbeResult(self.service, self.phase, failing)


def _failing(checks: dict[str, Callable[[], bool]]) -> tuple[str, ...]:
    failing = []
    for name, check in checks.items():
        try:
            passed = check()
        except Exception:
            # A check that raises is a bug in the check; the probe still answers, with the check failing.
            logger.warning("Health check %r raised", name, exc_info=True)
            passed = False
        if not passed:
            failing.append(name)
    return tuple(failing)
