"""Parts that a test starts beside the session's stack and may stop or break.

They share only the session's PostgreSQL server, each in a database of its
own, so that stopping one of them never disturbs the other tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from tests.conftest import RunningStack

GATEWAY = str(Path(sys.executable).parent / "gateway")


def create_database(stack: RunningStack) -> str:
    """Create an empty database on the stack's PostgreSQL server and return its URL."""
    server_url = stack.stack.database_url
    assert server_url is not None
    name = f"test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    stack.loop.run(create())
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def service_environment(**variables: str) -> dict[str, str]:
    return {**os.environ, "GATEWAY_LOG_FORMAT": "json", **variables}


def start_service(name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as output:
        return subprocess.Popen([GATEWAY, "serve", name], env=env, stdout=output, stderr=subprocess.STDOUT)


def stop_process(process: subprocess.Popen, timeout: float = 40) -> int:
    """SIGTERM the process if it still runs and return its exit status."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise


def wait_until(condition: Callable[[], bool], what: str, log: Path | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    detail = f"\n{log.read_text()[-3000:]}" if log is not None and log.exists() else ""
    pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}.{detail}")


def http_status(url: str) -> int | None:
    """The HTTP status of GET `url`, or None while nothing listens there."""
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def start_nats(directory: Path, port: int) -> subprocess.Popen:
    """A nats-server with JetStream of its own, for parts that must not join the session's queue groups."""
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "nats.conf"
    conf.write_text(f'listen: 127.0.0.1:{port}\njetstream {{ store_dir: "{directory / "store"}" }}\n')
    with (directory / "nats.log").open("ab") as output:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "nats-server"), "-c", str(conf)], stdout=output, stderr=subprocess.STDOUT
        )
    wait_until(lambda: _accepts_connections(port), f"nats-server on port {port}", directory / "nats.log", timeout=20)
    return server


def _accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
