"""Start-up checks of the local stack that fail before anything runs."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gateway_cli.stack import StackConfig, StackError, _check_ports, _port_from_env


def test_busy_port_names_the_variable(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = StackConfig(data_dir=tmp_path, http_port=port, nats_port=0, emulator_port=0)

        with pytest.raises(StackError) as caught:
            _check_ports(config)

    assert str(caught.value) == f"Port {port} on 127.0.0.1 is already in use; set GATEWAY_HTTP_PORT to a free port."


def test_invalid_port_variable_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_NATS_PORT", "http")

    with pytest.raises(StackError) as caught:
        _port_from_env("GATEWAY_NATS_PORT", 4222)

    assert "GATEWAY_NATS_PORT='http'" in str(caught.value)


def test_gateway_up_on_a_busy_port_prints_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        gateway = Path(sys.executable).parent / "gateway"
        result = subprocess.run(
            [str(gateway), "up"],
            env={"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_HTTP_PORT": str(port), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"gateway up: Port {port} on 127.0.0.1 is already in use; set GATEWAY_HTTP_PORT to a free port."
    ]


def test_second_stack_on_one_data_folder_is_refused(tmp_path: Path) -> None:
    from gateway_cli.stack import DataDirLock

    first = DataDirLock(tmp_path)
    try:
        with pytest.raises(StackError) as caught:
            DataDirLock(tmp_path)
    finally:
        first.release()

    assert str(tmp_path) in str(caught.value)
    assert "GATEWAY_DATA_DIR" in str(caught.value)
    DataDirLock(tmp_path).release()
