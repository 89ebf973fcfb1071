"""The load generator against the real provider emulator, served in this process on a free port."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from chat_load.client import LoadSpec, Percentiles, run_load
from chat_load.scenarios import request_body
from provider_emulator import create_app

MODEL = "gpt-4o-mini"


@pytest.fixture(scope="module")
async def emulator_url() -> AsyncIterator[str]:
    runner = web.AppRunner(create_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/openai/v1/chat/completions"
    await runner.cleanup()


def _spec(url: str, **changes) -> LoadSpec:
    fields = {
        "url": url,
        "headers": {"Authorization": "Bearer test"},
        "body": request_body(MODEL, stream=False),
        "stream": False,
        "concurrency": 3,
        "requests": 30,
        "time_limit": 30.0,
    }
    fields.update(changes)
    return LoadSpec(**fields)


async def test_closed_loop_counts_every_request(emulator_url: str) -> None:
    result = await run_load(_spec(emulator_url))

    assert result.sent == 30
    assert result.ok == 30
    assert result.errors == {}
    assert result.latency_ms is not None
    assert result.latency_ms.p50 <= result.latency_ms.p99 <= result.latency_ms.max
    assert result.first_chunk_ms is None
    assert not result.stopped_by_time_limit


async def test_stream_reports_first_chunk(emulator_url: str) -> None:
    result = await run_load(_spec(emulator_url, body=request_body(MODEL, stream=True), stream=True, requests=10))

    assert result.ok == 10
    assert result.first_chunk_ms is not None
    assert result.latency_ms is not None
    assert result.first_chunk_ms.p50 <= result.latency_ms.p50


async def test_error_status_counts_as_error(emulator_url: str) -> None:
    result = await run_load(_spec(emulator_url, headers={"Authorization": "Bearer sk-invalid"}, requests=5))

    assert result.ok == 0
    assert result.errors == {"status 401": 5}
    assert result.latency_ms is None


async def test_stream_without_done_is_incomplete(emulator_url: str) -> None:
    body = request_body(MODEL, stream=True).replace("#emulate words=20", "#emulate words=20 error_after=2")

    result = await run_load(_spec(emulator_url, body=body, stream=True, requests=4))

    assert result.ok == 0
    assert result.errors == {"incomplete body": 4}


async def test_open_loop_keeps_its_schedule(emulator_url: str) -> None:
    result = await run_load(_spec(emulator_url, rate=200.0, requests=20, concurrency=8))

    assert result.sent == 20
    assert result.ok == 20
    # The last request is due 19 intervals of 5 ms after the first.
    assert result.elapsed_seconds >= 19 / 200


async def test_time_limit_aborts_requests_in_flight(emulator_url: str) -> None:
    body = request_body(MODEL, stream=False).replace("Hello", "#emulate first_delay_ms=1500\\nHello")

    result = await run_load(_spec(emulator_url, body=body, requests=6, concurrency=2, time_limit=0.2, grace=0.3))

    assert result.ok == 0
    assert result.errors == {"timed out": 2}
    assert result.sent == 2
    assert result.stopped_by_time_limit


async def test_open_loop_counts_unsent_requests(emulator_url: str) -> None:
    body = request_body(MODEL, stream=False).replace("Hello", "#emulate first_delay_ms=1500\\nHello")

    result = await run_load(
        _spec(emulator_url, body=body, rate=100.0, requests=20, concurrency=2, time_limit=0.2, grace=0.3)
    )

    assert result.ok == 0
    assert result.sent == 2
    assert result.errors == {"timed out": 2, "not sent: no free connection in time": 18}
    assert result.stopped_by_time_limit


async def test_refused_connection_counts_as_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port once the probe is closed.

    result = await run_load(_spec(f"http://127.0.0.1:{port}/v1/chat/completions", requests=3, concurrency=1))

    assert result.ok == 0
    assert result.sent == 3
    assert list(result.errors) == ["connect failed: Connection refused"]


def test_percentiles_use_nearest_rank() -> None:
    values = Percentiles.of([float(value) for value in range(100, 0, -1)])

    assert values == Percentiles(p50=50.0, p95=95.0, p99=99.0, mean=50.5, max=100.0)


def test_percentiles_of_nothing() -> None:
    assert Percentiles.of([]) is None
