"""The web console of the local run: built with the machine's Node.js and npm, served beside the stack.

The console is optional. Without Node.js 20 or npm, or when its build fails,
`gateway up` prints the reason and runs the gateway without it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from gateway_cli.processes import ChildProcess, child_environment

logger = logging.getLogger("gateway_cli.console")

MIN_NODE_MAJOR = 20
DEFAULT_PORT = 3000
# `npm ci` touches this file when it finishes; `make test` uses the same stamp.
INSTALL_STAMP = Path("node_modules") / ".installed"
SERVER = Path(".next") / "standalone" / "server.js"
# Inputs of a build besides node_modules. A file newer than the build in any of them makes it stale.
_BUILD_INPUTS = ("src", "scripts", "package-lock.json", "next.config.mjs", "tsconfig.json")
_INSTALL_TIMEOUT = 600.0
_BUILD_TIMEOUT = 600.0
_START_TIMEOUT = 30.0


class ConsoleUnavailable(Exception):
    """The console cannot be built or served here; the message gives the reason and the fix."""


@dataclass(slots=True)
class ConsoleConfig:
    directory: Path
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"

    @classmethod
    def from_environment(cls) -> ConsoleConfig | None:
        """Read `GATEWAY_CONSOLE` and `GATEWAY_CONSOLE_PORT`; None when the console is switched off."""
        if os.environ.get("GATEWAY_CONSOLE", "true").strip().lower() in ("0", "false", "no", "off"):
            return None
        raw = os.environ.get("GATEWAY_CONSOLE_PORT") or str(DEFAULT_PORT)
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise ConsoleUnavailable(f"GATEWAY_CONSOLE_PORT={raw!r} is not a TCP port; use a number from 1 to 65535.")
        return cls(directory=console_directory(), port=int(raw))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def console_directory() -> Path:
    """`services/console` of this checkout: beside the editable install of the CLI, or under the current folder."""
    override = os.environ.get("GATEWAY_CONSOLE_DIR")
    if override:
        return Path(override).resolve()
    for root in (Path(__file__).resolve().parents[4], Path.cwd()):
        candidate = root / "services" / "console"
        if (candidate / "package.json").exists():
            return candidate
    return Path.cwd() / "services" / "console"


def check_tools(directory: Path) -> None:
    """Raise `ConsoleUnavailable` unless the console's sources, Node.js 20 or newer and npm are present."""
    if not (directory / "package.json").exists():
        raise ConsoleUnavailable(
            f"The console's sources are not in {directory}; run from the repository or set GATEWAY_CONSOLE_DIR."
        )
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        missing = "node" if node is None else "npm"
        raise ConsoleUnavailable(
            f"`{missing}` was not found on PATH; install Node.js {MIN_NODE_MAJOR} or newer with npm"
            " to serve the console."
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    major = re.match(r"v(\d+)\.", version)
    if major is None or int(major.group(1)) < MIN_NODE_MAJOR:
        raise ConsoleUnavailable(
            f"Node.js {version or 'of unknown version'} is too old;"
            f" the console needs Node.js {MIN_NODE_MAJOR} or newer."
        )


def _newest_mtime(directory: Path, names: tuple[str, ...]) -> float:
    newest = 0.0
    for name in names:
        path = directory / name
        files = path.rglob("*") if path.is_dir() else [path]
        newest = max([newest, *(item.stat().st_mtime for item in files if item.is_file())])
    return newest


def needs_install(directory: Path) -> bool:
    stamp = directory / INSTALL_STAMP
    return not stamp.exists() or stamp.stat().st_mtime < (directory / "package-lock.json").stat().st_mtime


def needs_build(directory: Path) -> bool:
    server = directory / SERVER
    return not server.exists() or server.stat().st_mtime < _newest_mtime(directory, _BUILD_INPUTS)


class LocalConsole:
    """Builds the console when its sources changed and runs its standalone server against an edge."""

    def __init__(self, config: ConsoleConfig, edge_url: str, log_dir: Path | None, console: TextIO | None = None):
        self.config = config
        self._edge_url = edge_url
        self._log_dir = log_dir
        self._console = console or sys.stderr
        self.server: ChildProcess | None = None

    async def prepare(self) -> None:
        """Install the npm packages and build the console, each only when out of date."""
        directory = self.config.directory
        check_tools(directory)
        if needs_install(directory):
            self._say("Installing the web console's npm packages (first run only)...")
            await self._run("console-install", ["npm", "ci", "--no-audit", "--no-fund"], _INSTALL_TIMEOUT)
            (directory / INSTALL_STAMP).touch()
        if needs_build(directory):
            self._say("Building the web console...")
            await self._run("console-build", ["npm", "run", "build"], _BUILD_TIMEOUT)
            # The build may finish within the same second as an input's last change.
            (directory / SERVER).touch()

    async def start(self) -> None:
        """Start the built server and wait until it accepts connections."""
        _check_port(self.config)
        env = {
            "PORT": str(self.config.port),
            "HOSTNAME": self.config.host,
            "GATEWAY_EDGE_URL": self._edge_url,
            "NODE_ENV": "production",
            "NEXT_TELEMETRY_DISABLED": "1",
        }
        self.server = ChildProcess(
            "console",
            ["node", str(self.config.directory / SERVER)],
            child_environment(env),
            self._log_dir,
            self._console,
        )
        await self.server.start()
        await self._wait_until_listening()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(timeout=10)

    async def _run(self, name: str, argv: list[str], timeout: float) -> None:
        env = child_environment({"NEXT_TELEMETRY_DISABLED": "1"})
        step = ChildProcess(name, argv, env, self._log_dir, self._console, cwd=self.config.directory)
        await step.start()
        try:
            status = await asyncio.wait_for(step.wait(), timeout)
        except TimeoutError:
            await step.stop(timeout=10)
            raise ConsoleUnavailable(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s.") from None
        except asyncio.CancelledError:
            # Ctrl-C or a failed start of the stack: npm stops with its build rather than outlive `gateway up`.
            await step.stop(timeout=10)
            raise
        if status != 0:
            where = f" Its output is in {step.log_path}." if step.log_path else " Its output is above."
            command = " ".join(argv)
            raise ConsoleUnavailable(f"`{command}` in {self.config.directory} failed with status {status}.{where}")

    async def _wait_until_listening(self) -> None:
        assert self.server is not None and self.server.process is not None
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            if self.server.process.returncode is not None:
                raise ConsoleUnavailable(f"The console's server exited with status {self.server.process.returncode}.")
            try:
                _reader, writer = await asyncio.open_connection(self.config.host, self.config.port)
                writer.close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise ConsoleUnavailable(
                        f"The console's server did not open port {self.config.port} within {_START_TIMEOUT:.0f} s."
                    ) from None
                await asyncio.sleep(0.1)

    def _say(self, message: str) -> None:
        self._console.write(message + "\n")
        self._console.flush()


def _check_port(config: ConsoleConfig) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((config.host, config.port))
        except OSError:
            raise ConsoleUnavailable(
                f"Port {config.port} on {config.host} is already in use; set GATEWAY_CONSOLE_PORT to a free port."
            ) from None
