"""An edge or router that receives SIGTERM finishes the streams it has started, then exits.

Kubernetes and Docker stop a container with SIGTERM and wait for its grace
period; a rolling update must not cut the generations that are running.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from gateway_cli.stack import Credentials, LocalStack, StackConfig
from tests.conftest import RunningStack, free_port
from tests.own_parts import create_database, http_status, service_environment, start_service, stop_process, wait_until

MODEL = "openai/gpt-4o-mini"
# Thirty words 100 ms apart: a stream of about three seconds.
SLOW_STREAM = "#emulate words=30 delay_ms=100"
EXPECTED_TEXT = " ".join(f"word{index}" for index in range(30))


@dataclass
class OwnStack:
    stack: LocalStack
    credentials: Credentials
    base_url: str
    router_metrics_port: int


@pytest.fixture
def own_stack(stack: RunningStack, tmp_path: Path) -> Iterator[OwnStack]:
    """A stack of its own whose router this test may stop, on a database of its own."""
    metrics_port = free_port()
    config = StackConfig(
        data_dir=tmp_path / "data",
        http_port=free_port(),
        nats_port=free_port(),
        emulator_port=free_port(),
        database_url=create_database(stack),
        log_dir=tmp_path / "logs",
        log_format="json",
        service_env={"GATEWAY_ROUTER_HEARTBEAT_SECONDS": "1"},
        metrics_ports={"router": metrics_port},
    )
    local = LocalStack(config)
    credentials = stack.loop.run(local.start())
    try:
        yield OwnStack(local, credentials, config.base_url, metrics_port)
    finally:
        stack.loop.run(local.stop())


def stream_through(client: openai.OpenAI, on_first_chunk: Callable[[], None]) -> tuple[str, str | None, int | None]:
    """Stream SLOW_STREAM and return its text, last finish reason and completion tokens."""
    pieces: list[str] = []
    finish_reason = None
    completion_tokens = None
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": SLOW_STREAM}],
        stream=True,
        stream_options={"include_usage": True},
    )
    for index, chunk in enumerate(stream):
        if index == 0:
            on_first_chunk()
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish_reason = choice.finish_reason or finish_reason
        if chunk.usage is not None:
            completion_tokens = chunk.usage.completion_tokens
    return "".join(pieces), finish_reason, completion_tokens


def readiness(port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()


def test_router_finishes_stream_after_sigterm(stack: RunningStack, own_stack: OwnStack) -> None:
    router = own_stack.stack.children["router"]
    assert router.process is not None
    client = openai.OpenAI(base_url=f"{own_stack.base_url}/v1", api_key=own_stack.credentials.api_key, max_retries=0)
    rejected: list[openai.APIStatusError] = []

    def stop_router_and_try_another_request() -> None:
        router.process.send_signal(signal.SIGTERM)
        wait_until(lambda: readiness(own_stack.router_metrics_port)["phase"] == "stopping", "the router to stop")
        # The stopping router leaves the queue group, so with no other replica a new request finds no router.
        for _attempt in range(50):
            try:
                client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "during the drain"}])
            except openai.APIStatusError as error:
                rejected.append(error)
                return

    with client:
        text, finish_reason, completion_tokens = stream_through(client, stop_router_and_try_another_request)

    assert text == EXPECTED_TEXT
    assert finish_reason == "stop"
    assert completion_tokens == 30
    assert [(error.status_code, error.code) for error in rejected] == [(503, "router_unavailable")]
    assert stack.loop.run(router.wait(), timeout=40) == 0


def test_edge_finishes_stream_after_sigterm(stack: RunningStack, tmp_path: Path) -> None:
    http_port, metrics_port = free_port(), free_port()
    log = tmp_path / "edge.log"
    env = service_environment(
        NATS_URL=stack.nats_url, GATEWAY_HTTP_PORT=str(http_port), GATEWAY_METRICS_PORT=str(metrics_port)
    )
    edge = start_service("edge", env, log)
    base_url = f"http://127.0.0.1:{http_port}"
    try:
        wait_until(lambda: http_status(f"{base_url}/readyz") == 200, "the second edge to be ready", log)
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=stack.api_key, max_retries=0)

        def stop_edge() -> None:
            edge.send_signal(signal.SIGTERM)
            wait_until(lambda: readiness(metrics_port)["phase"] == "stopping", "the edge to stop", log)
            # uvicorn closes its listening socket first, so load balancers see new connections refused.
            wait_until(lambda: http_status(f"{base_url}/healthz") is None, "the edge to stop listening", log)

        with client:
            text, finish_reason, completion_tokens = stream_through(client, stop_edge)
    finally:
        status = stop_process(edge)

    assert text == EXPECTED_TEXT
    assert finish_reason == "stop"
    assert completion_tokens == 30
    assert status == 0
    assert "Edge stopped" in log.read_text()
