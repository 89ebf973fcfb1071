"""When `gateway up` installs and rebuilds the web console, and how it reads its settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway_cli.console import (
    INSTALL_STAMP,
    SERVER,
    ConsoleConfig,
    ConsoleUnavailable,
    check_tools,
    needs_build,
    needs_install,
)


def _touch(path: Path, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path, (mtime, mtime))


@pytest.fixture
def console(tmp_path: Path) -> Path:
    for name in ("package.json", "package-lock.json", "next.config.mjs", "tsconfig.json", "src/app/page.tsx"):
        _touch(tmp_path / name, 1_000)
    return tmp_path


def test_fresh_checkout_needs_install_and_build(console: Path) -> None:
    assert needs_install(console)
    assert needs_build(console)


def test_build_newer_than_sources_is_kept(console: Path) -> None:
    _touch(console / INSTALL_STAMP, 2_000)
    _touch(console / SERVER, 2_000)

    assert not needs_install(console)
    assert not needs_build(console)


def test_changed_source_rebuilds(console: Path) -> None:
    _touch(console / SERVER, 2_000)
    _touch(console / "src" / "lib" / "edge.ts", 3_000)

    assert needs_build(console)


def test_changed_lockfile_reinstalls(console: Path) -> None:
    _touch(console / INSTALL_STAMP, 2_000)
    _touch(console / "package-lock.json", 3_000)

    assert needs_install(console)


def test_config_defaults_to_port_3000(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_CONSOLE", raising=False)
    monkeypatch.delenv("GATEWAY_CONSOLE_PORT", raising=False)

    config = ConsoleConfig.from_environment()

    assert config is not None
    assert config.url == "http://127.0.0.1:3000"


def test_config_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_CONSOLE", "false")

    assert ConsoleConfig.from_environment() is None


def test_config_rejects_bad_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_CONSOLE", raising=False)
    monkeypatch.setenv("GATEWAY_CONSOLE_PORT", "http")

    with pytest.raises(ConsoleUnavailable, match="GATEWAY_CONSOLE_PORT='http' is not a TCP port"):
        ConsoleConfig.from_environment()


def test_missing_sources_named(tmp_path: Path) -> None:
    with pytest.raises(ConsoleUnavailable, match=f"not in {tmp_path}"):
        check_tools(tmp_path)


def test_missing_node_named(console: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(console / "empty-bin"))

    with pytest.raises(ConsoleUnavailable, match="`node` was not found on PATH"):
        check_tools(console)
