"""Streams and buckets take GATEWAY_NATS_REPLICAS copies on a three-server JetStream cluster."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.errors import ServiceUnavailableError

from gateway_contracts import bus
from gateway_contracts.bus import BucketSpec
from gateway_contracts.kv import ensure_bucket
from tests.conftest import LoopThread, free_port
from tests.own_parts import http_status, service_environment, start_service, stop_process, wait_until

NATS_SERVER = str(Path(sys.executable).parent / "nats-server")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Three nats-server processes with JetStream, routed to each other; yields their client URLs."""
    root = tmp_path_factory.mktemp("nats-cluster")
    client_ports = [free_port() for _ in range(3)]
    route_ports = [free_port() for _ in range(3)]
    routes = ", ".join(f"nats://127.0.0.1:{port}" for port in route_ports)
    servers = []
    for index, (client_port, route_port) in enumerate(zip(client_ports, route_ports, strict=True)):
        conf = root / f"n{index}.conf"
        conf.write_text(
            f"server_name: n{index}\n"
            f"listen: 127.0.0.1:{client_port}\n"
            f'jetstream {{ store_dir: "{root / f"n{index}"}" }}\n'
            f"cluster {{ name: gateway-test, listen: 127.0.0.1:{route_port}, routes: [{routes}] }}\n"
        )
        log = (root / f"n{index}.log").open("ab")
        servers.append(subprocess.Popen([NATS_SERVER, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT))
        log.close()
    urls = [f"nats://127.0.0.1:{port}" for port in client_ports]
    try:
        loop = LoopThread()
        try:
            loop.run(_wait_for_jetstream(urls[0]), timeout=60)
        finally:
            loop.close()
        yield urls
    finally:
        for server in servers:
            stop_process(server, timeout=10)


async def _wait_for_jetstream(url: str) -> None:
    """Return once the cluster has elected its JetStream meta leader and serves account requests."""
    deadline = time.monotonic() + 45
    nc = await nats.connect(url, max_reconnect_attempts=-1)
    try:
        while True:
            try:
                await nc.jetstream().account_info()
                return
            except (ServiceUnavailableError, nats.errors.TimeoutError, nats.errors.NoRespondersError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await nc.close()


async def replicas_of(url: str, streams: list[str]) -> dict[str, int]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        return {name: (await js.stream_info(name)).config.num_replicas for name in streams}
    finally:
        await nc.close()


async def grow_bucket(url: str, spec: BucketSpec) -> dict[str, int]:
    """Create the bucket with one replica, open it again asking for three, and return both counts."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await ensure_bucket(js, spec, replicas=1)
        before = (await js.stream_info(f"KV_{spec.name}")).config.num_replicas
        await ensure_bucket(js, spec, replicas=3)
        after = (await js.stream_info(f"KV_{spec.name}")).config.num_replicas
    finally:
        await nc.close()
    return {"before": before, "after": after}


def test_router_creates_replicated_streams_and_buckets(cluster: list[str], tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "router.log"
    env = service_environment(NATS_URL=cluster[1], GATEWAY_NATS_REPLICAS="3", GATEWAY_METRICS_PORT=str(port))
    router = start_service("router", env, log)
    try:
        wait_until(lambda: http_status(f"http://127.0.0.1:{port}/readyz") == 200, "the router to be ready", log)
    finally:
        assert stop_process(router) == 0

    loop = LoopThread()
    try:
        replicas = loop.run(
            replicas_of(
                cluster[2],
                [
                    bus.USAGE_STREAM.name,
                    bus.SESSION_STREAM.name,
                    f"KV_{bus.PROVIDERS_BUCKET.name}",
                    f"KV_{bus.CATALOG_BUCKET.name}",
                    f"OBJ_{bus.PAYLOAD_OBJECT_STORE}",
                ],
            )
        )
    finally:
        loop.close()
    assert set(replicas.values()) == {3}, replicas


def test_existing_bucket_grows_to_requested_replicas(cluster: list[str]) -> None:
    loop = LoopThread()
    try:
        counts = loop.run(grow_bucket(cluster[0], BucketSpec(name="test_grow", owner="tests")))
    finally:
        loop.close()

    assert counts == {"before": 1, "after": 3}
