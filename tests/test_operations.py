"""What deployments rely on: health endpoints, `gateway health` and `gateway migrate`."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import asyncpg
import httpx

from tests.conftest import RunningStack, free_port
from tests.own_parts import (
    GATEWAY,
    create_database,
    http_status,
    service_environment,
    start_nats,
    start_service,
    stop_process,
    wait_until,
)


def gateway(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GATEWAY, *args], env=env, capture_output=True, text=True, timeout=timeout)


def schemas_in(stack: RunningStack, database_url: str) -> set[str]:
    async def read() -> set[str]:
        connection = await asyncpg.connect(database_url)
        try:
            rows = await connection.fetch("SELECT nspname FROM pg_namespace")
        finally:
            await connection.close()
        return {row["nspname"] for row in rows}

    return stack.loop.run(read())


def analytics_tables(chdb_path: Path) -> list[str]:
    """The tables of the `gateway` database in chdb's data, read by a process of its own as chdb needs."""
    script = (
        "import sys\n"
        "from chdb import session\n"
        "print(session.Session(sys.argv[1]).query('SHOW TABLES FROM gateway', 'CSV').bytes().decode())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(chdb_path)], capture_output=True, text=True, timeout=60, check=True
    )
    return [line.strip('"') for line in result.stdout.split()]


def analytics_schema_tables() -> set[str]:
    """The tables and views that accounting's analytics schema file creates in the `gateway` database."""
    schema = (files("gateway_accounting") / "analytics_schema.sql").read_text()
    return set(re.findall(r"CREATE (?:TABLE|MATERIALIZED VIEW) IF NOT EXISTS gateway\.(\w+)", schema))


def test_service_reports_health_on_metrics_port(stack: RunningStack, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "sessions.log"
    env = service_environment(
        NATS_URL=stack.nats_url, DATABASE_URL=stack.stack.database_url or "", GATEWAY_METRICS_PORT=str(port)
    )
    sessions = start_service("sessions", env, log)
    try:
        wait_until(lambda: http_status(f"http://127.0.0.1:{port}/readyz") == 200, "sessions to be ready", log)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()
        alive = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
        probe = gateway("health", "sessions", env=env)
        live_probe = gateway("health", "sessions", "--live", env=env)
        wrong_service = gateway("health", "catalog", env=env)
    finally:
        status = stop_process(sessions)

    assert ready == {"status": "ready", "service": "sessions", "phase": "ready", "failing": []}
    assert alive == {"status": "ok", "service": "sessions", "phase": "ready", "failing": []}
    assert (probe.returncode, probe.stdout) == (0, "sessions: ready\n")
    assert (live_probe.returncode, live_probe.stdout) == (0, "sessions: ok\n")
    assert wrong_service.returncode == 1
    assert f"http://127.0.0.1:{port}/readyz belongs to service 'sessions', not 'catalog'." in wrong_service.stderr
    assert status == 0


def test_health_without_metrics_port_is_usage_error(tmp_path: Path) -> None:
    result = gateway("health", "router", env=service_environment(GATEWAY_METRICS_PORT=""))

    assert result.returncode == 2
    assert "GATEWAY_METRICS_PORT is not set" in result.stderr


def test_health_of_stopped_service_fails(tmp_path: Path) -> None:
    port = free_port()
    result = gateway("health", "router", env=service_environment(GATEWAY_METRICS_PORT=str(port)))

    assert result.returncode == 1
    assert f"router: no health response from http://127.0.0.1:{port}/readyz" in result.stderr


def test_invalid_metrics_port_names_the_variable() -> None:
    result = gateway("serve", "router", env=service_environment(GATEWAY_METRICS_PORT="metrics"))

    assert result.returncode == 1
    assert "GATEWAY_METRICS_PORT='metrics'" in result.stderr


def test_service_without_migration_refuses_to_start(stack: RunningStack, tmp_path: Path) -> None:
    env = service_environment(
        NATS_URL=stack.nats_url, DATABASE_URL=create_database(stack), GATEWAY_MIGRATE_ON_START="false"
    )

    result = gateway("serve", "sessions", env=env, timeout=60)

    assert result.returncode == 1
    assert (
        "PostgreSQL schema `sessions` does not exist and GATEWAY_MIGRATE_ON_START is false; "
        "run `gateway migrate sessions` against this DATABASE_URL first."
    ) in result.stderr


def test_migrate_then_start_without_migrating(stack: RunningStack, tmp_path: Path) -> None:
    database_url = create_database(stack)
    env = service_environment(
        NATS_URL=stack.nats_url,
        DATABASE_URL=database_url,
        GATEWAY_DATA_DIR=str(tmp_path / "data"),
        GATEWAY_MIGRATE_ON_START="false",
    )

    migrated = gateway("migrate", env=env)
    again = gateway("migrate", "sessions", env=env)

    assert migrated.returncode == 0, migrated.stderr
    assert {"accounting", "catalog", "sessions"} <= schemas_in(stack, database_url)
    assert again.returncode == 0, again.stderr
    # Without CLICKHOUSE_URL the analytics schema goes to chdb's data under GATEWAY_DATA_DIR.
    assert set(analytics_tables(tmp_path / "data" / "clickhouse")) == analytics_schema_tables()

    port = free_port()
    log = tmp_path / "sessions.log"
    sessions = start_service("sessions", {**env, "GATEWAY_METRICS_PORT": str(port)}, log)
    try:
        wait_until(lambda: http_status(f"http://127.0.0.1:{port}/readyz") == 200, "sessions to be ready", log)
    finally:
        assert stop_process(sessions) == 0


def test_migrate_unknown_service_lists_known_ones() -> None:
    result = gateway("migrate", "edge", env=service_environment())

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "No schema to apply for edge; services with a schema here: accounting, catalog, sessions."
    )


def test_migrate_failure_exits_nonzero() -> None:
    env = service_environment(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/none")

    result = gateway("migrate", "sessions", env=env)

    assert result.returncode == 1
    assert "Migration failed" in result.stderr


def test_bootstrap_prints_secrets_once(stack: RunningStack, tmp_path: Path) -> None:
    nats_port, metrics_port = free_port(), free_port()
    nats_server = start_nats(tmp_path / "nats", nats_port)
    log = tmp_path / "accounting.log"
    env = service_environment(
        NATS_URL=f"nats://127.0.0.1:{nats_port}",
        DATABASE_URL=create_database(stack),
        GATEWAY_DATA_DIR=str(tmp_path / "data"),
        GATEWAY_METRICS_PORT=str(metrics_port),
    )
    accounting = start_service("accounting", env, log)
    try:
        wait_until(lambda: http_status(f"http://127.0.0.1:{metrics_port}/readyz") == 200, "accounting to be ready", log)
        first = gateway("bootstrap", "--project", "ops", env=env)
        second = gateway("bootstrap", "--project", "ops", env=env)
    finally:
        assert stop_process(accounting) == 0
        stop_process(nats_server)

    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Project `ops`", "API key", "Admin token"]
    assert lines[1].split()[-1].startswith("gw-")
    assert lines[2].split()[-1].startswith("gwadmin-")
    assert second.returncode == 1
    assert second.stdout == ""
    assert "already has an admin token" in second.stderr


def test_bootstrap_without_accounting_fails_within_timeout(tmp_path: Path) -> None:
    nats_port = free_port()
    nats_server = start_nats(tmp_path / "nats", nats_port)
    try:
        env = service_environment(NATS_URL=f"nats://127.0.0.1:{nats_port}")
        result = gateway("bootstrap", "--timeout", "1", env=env)
    finally:
        stop_process(nats_server)

    assert result.returncode == 1
    assert "No service answered on `gateway.accounting.bootstrap` within 1 s." in result.stderr
