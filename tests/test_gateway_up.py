"""`gateway up` as a user runs it: start, serve, stop on Ctrl-C, and start again with the same state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import psutil
import pytest

from gateway_cli.console import ConsoleUnavailable, check_tools, console_directory
from tests.conftest import free_port


def start_gateway(data_dir: Path, ports: dict[str, int], log: Path) -> subprocess.Popen:
    """Start `gateway up`; it serves the web console only when `ports` has a `console` port."""
    env = {
        **os.environ,
        "GATEWAY_DATA_DIR": str(data_dir),
        "GATEWAY_HTTP_PORT": str(ports["http"]),
        "GATEWAY_NATS_PORT": str(ports["nats"]),
        "GATEWAY_EMULATOR_PORT": str(ports["emulator"]),
        "GATEWAY_CONSOLE": "true" if "console" in ports else "false",
        "GATEWAY_CONSOLE_PORT": str(ports.get("console", 3000)),
    }
    gateway = Path(sys.executable).parent / "gateway"
    with log.open("ab") as output:
        return subprocess.Popen([str(gateway), "up"], env=env, stdout=output, stderr=subprocess.STDOUT)


def wait_ready(
    process: subprocess.Popen, base_url: str, key_file: Path, log: Path, starts: int = 1, timeout: float = 120
) -> None:
    """Wait until the `starts`-th start announced itself, which it does once every service answers.

    The edge's `/readyz` alone is not enough: on a second start the key file
    already exists and the edge can be ready before accounting is.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gateway up exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        announced = log.read_text(errors="replace").count("Generative Gateway is ready at") >= starts
        try:
            if announced and httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200 and key_file.exists():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"gateway up was not ready within {timeout} s:\n{log.read_text()[-3000:]}")


def interrupt(process: subprocess.Popen) -> list[psutil.Process]:
    """Send Ctrl-C's signal and return the children that were running before it."""
    if process.poll() is not None:
        return []
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    process.send_signal(signal.SIGINT)
    process.wait(timeout=90)
    return children


def test_up_serves_stops_and_keeps_state(stack_root: Path) -> None:
    data_dir = stack_root / "data"
    log = stack_root / "up.log"
    ports = {"http": free_port(), "nats": free_port(), "emulator": free_port(), "console": free_port()}
    base_url = f"http://127.0.0.1:{ports['http']}"
    key_file = data_dir / "dev-api-key"

    first = start_gateway(data_dir, ports, log)
    try:
        wait_ready(first, base_url, key_file, log)
        _check_console(ports["console"], log)
        key = key_file.read_text().strip()
        assert (data_dir / "admin-token").stat().st_mode & 0o777 == 0o600
        nats_url_file = data_dir / "nats-url"
        assert nats_url_file.stat().st_mode & 0o777 == 0o600
        assert nats_url_file.read_text().strip().endswith(f"@127.0.0.1:{ports['nats']}")
        assert f"NATS URL for event subscribers on this machine: {nats_url_file}" in log.read_text()
        with openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0) as client:
            client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            time.sleep(1.5)
    finally:
        children = interrupt(first)

    assert first.returncode == 0
    assert "Stopped." in log.read_text()
    assert [child.pid for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE] == []

    second = start_gateway(data_dir, ports, log)
    try:
        wait_ready(second, base_url, key_file, log, starts=2)
        assert key_file.read_text().strip() == key
        usage = httpx.get(f"{base_url}/v1/usage", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
        assert [row["requests"] for row in usage["data"]] == [1]
    finally:
        interrupt(second)
    assert second.returncode == 0


def _check_console(port: int, log: Path) -> None:
    """The console is served at the URL in the banner, or the banner says why it is not."""
    try:
        check_tools(console_directory())
    except ConsoleUnavailable as error:
        assert f"The web console is not served: {error}" in log.read_text()
        return
    console_url = f"http://127.0.0.1:{port}"
    assert f"Web console: {console_url}" in log.read_text()
    assert httpx.get(f"{console_url}/signin", timeout=10).status_code == 200


def test_up_restarts_a_crashed_service(stack_root: Path) -> None:
    data_dir = stack_root / "data"
    log = stack_root / "up.log"
    ports = {"http": free_port(), "nats": free_port(), "emulator": free_port()}
    base_url = f"http://127.0.0.1:{ports['http']}"
    key_file = data_dir / "dev-api-key"

    process = start_gateway(data_dir, ports, log)
    try:
        wait_ready(process, base_url, key_file, log)
        key = key_file.read_text().strip()
        [router] = [
            child
            for child in psutil.Process(process.pid).children(recursive=True)
            if child.cmdline()[-2:] == ["serve", "router"]
        ]
        router.kill()

        def answered() -> bool:
            try:
                with openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0) as client:
                    client.chat.completions.create(
                        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "still there?"}]
                    )
            except openai.APIError:
                return False
            return True

        deadline = time.monotonic() + 60
        while not answered():
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        assert "router exited with status -9; starting it again" in log.read_text()
    finally:
        interrupt(process)
