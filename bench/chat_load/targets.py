"""Targets of the load: the emulator itself, the gateway's local stack, or any OpenAI-compatible URL."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.js.errors import NotFoundError

from gateway_cli.stack import LocalStack, StackConfig
from gateway_contracts import bus

logger = logging.getLogger("bench.targets")

# The emulator serves OpenAI's API under this prefix.
EMULATOR_OPENAI_PATH = "/openai/v1"
# The model the emulator is asked for, directly and through every gateway.
UPSTREAM_MODEL = "gpt-4o-mini"

# Processes of the local stack that make up the gateway, in table order.
GATEWAY_PROCESSES = ("edge", "router", "nats", "accounting", "sessions", "catalog", "postgres")
# In the local run accounting starts ClickHouse's engine (chdb) as a child
# process. Its CPU counts in accounting's column, and its memory gets a row of its own.
CHDB_WORKER_MODULE = "gateway_accounting.chdb_worker"
CHDB_ENGINE = "clickhouse engine (chdb)"


@dataclass(slots=True)
class Target:
    """An OpenAI-compatible base URL, how to call it, and which processes serve it."""

    key: str
    label: str
    base_url: str
    model: str
    headers: dict[str, str] = field(default_factory=dict)
    # Processes whose CPU time counts as this target's cost, by name.
    pids: dict[str, int] = field(default_factory=dict)
    # Waits until work that the target defers (such as event ingest) is done,
    # so that its CPU time falls inside the measurement.
    settle: Callable[[], Awaitable[None]] | None = None

    @property
    def url(self) -> str:
        return f"{self.base_url.rstrip('/')}/chat/completions"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def direct_target(emulator_url: str, emulator_pid: int) -> Target:
    return Target(
        key="direct",
        label="emulator, direct",
        base_url=emulator_url + EMULATOR_OPENAI_PATH,
        model=UPSTREAM_MODEL,
        headers={"Authorization": "Bearer emulator"},
        pids={"emulator": emulator_pid},
    )


class GatewayStack:
    """The local stack as `make up` runs it, on free ports, with its data in `root`."""

    def __init__(self, root: Path) -> None:
        self.config = StackConfig(
            data_dir=root / "data",
            http_port=free_port(),
            nats_port=free_port(),
            emulator_port=free_port(),
            log_dir=root / "logs",
            log_format="json",
        )
        self.stack = LocalStack(self.config)
        self.api_key = ""

    async def start(self) -> None:
        credentials = await self.stack.start()
        self.api_key = credentials.api_key

    async def stop(self) -> None:
        await self.stack.stop()

    @property
    def emulator_url(self) -> str:
        return self.config.emulator_url

    def pids(self) -> dict[str, int]:
        return self.stack.pids()

    def target(self) -> Target:
        pids = self.pids()
        return Target(
            key="gateway",
            label="Generative Gateway",
            base_url=f"{self.config.base_url}/v1",
            model=f"openai/{UPSTREAM_MODEL}",
            headers={"Authorization": f"Bearer {self.api_key}"},
            pids={name: pids[name] for name in GATEWAY_PROCESSES if name in pids},
            settle=self.wait_for_usage_ingest,
        )

    async def usage_events(self) -> int:
        """Return the number of usage events the router has stored in JetStream so far.

        The stream also contains accounting's public usage.recorded events, so only the router's subject counts.
        """
        nc = await nats.connect(self.stack.nats_url, name="bench")
        try:
            info = await nc.jetstream().stream_info(bus.USAGE_STREAM.name, subjects_filter=bus.USAGE_EVENT_SUBJECT)
        except NotFoundError:
            return 0
        finally:
            await nc.close()
        return int((info.state.subjects or {}).get(bus.USAGE_EVENT_SUBJECT, 0))

    async def wait_for_usage_ingest(self, timeout: float = 120.0) -> None:
        """Wait until accounting has acked every usage event in the stream, or `timeout` passes."""
        deadline = time.monotonic() + timeout
        nc = await nats.connect(self.stack.nats_url, name="bench")
        js = nc.jetstream()
        previous_last_seq = -1
        try:
            while time.monotonic() < deadline:
                stream = await js.stream_info(bus.USAGE_STREAM.name)
                consumer = await js.consumer_info(bus.USAGE_STREAM.name, bus.ACCOUNTING_USAGE_CONSUMER)
                last_seq = stream.state.last_seq
                drained = not consumer.num_pending and not consumer.num_ack_pending
                # The router publishes without waiting, so an unchanged last
                # sequence shows that no event is still on its way in.
                if drained and last_seq == previous_last_seq:
                    return
                previous_last_seq = last_seq
                await asyncio.sleep(0.25)
        finally:
            await nc.close()
        logger.warning("Accounting still had usage events to ingest after %.0f s", timeout)


def external_target(key: str, base_url: str, api_key: str | None, model: str | None) -> Target:
    """Any OpenAI-compatible server given on the command line; its CPU is not measured."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return Target(key=key, label=key, base_url=base_url, model=model or UPSTREAM_MODEL, headers=headers)
