"""Accounting's two stores, each against both of its backends.

ClickHouse: the engine in process (chdb, as `make up` runs it) and a ClickHouse
server from its image, reached through clickhouse-connect as in Docker Compose
and Kubernetes. PostgreSQL: the embedded server of the test session and the
`postgres` image. The image-backed cases need a Docker engine (a developer's
laptop, a CI runner with Docker) and are skipped with the reason where none
is reachable; the same test code runs against the local backends everywhere.
"""

from __future__ import annotations

import gc
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from gateway_accounting import database
from gateway_accounting.analytics import USAGE_TABLE, AnalyticsStore, ChdbStore, ClickHouseServerStore, usage_rows
from gateway_accounting.outbox import MAX_ATTEMPTS, AnalyticsOutbox
from gateway_accounting.reports import usage_report
from gateway_accounting.spend import record_spend
from gateway_contracts import CostBreakdown, TokenUsage, UsageEvent
from gateway_contracts.rpc import UsageReportRequest
from tests.conftest import RunningStack
from tests.own_parts import create_database

# The images docker-compose.yml runs.
CLICKHOUSE_IMAGE = "clickhouse/clickhouse-server:25.8"
POSTGRES_IMAGE = "postgres:17"


def docker_engine_problem() -> str | None:
    """Why no Docker engine is reachable here, or None when one is."""
    import docker
    from docker.errors import DockerException

    with warnings.catch_warnings():
        # docker-py leaves the socket of a failed connection to the garbage collector.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.from_env(timeout=5)
        except DockerException as error:
            problem: str | None = str(error)
        else:
            client.close()
            problem = None
        gc.collect()
    return problem


def require_docker() -> None:
    problem = docker_engine_problem()
    if problem is not None:
        pytest.skip(f"No Docker engine is reachable, so the image cannot run: {problem}")


@pytest.fixture(scope="module", params=["chdb", "clickhouse-server"])
def clickhouse_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A chdb data folder, or the URL of a ClickHouse server started from its image."""
    if request.param == "chdb":
        yield str(tmp_path_factory.mktemp("chdb"))
        return
    require_docker()
    from testcontainers.community.clickhouse import ClickHouseContainer

    with ClickHouseContainer(CLICKHOUSE_IMAGE, username="gateway", password="gateway", dbname="gateway") as server:
        yield f"http://gateway:gateway@{server.get_container_host_ip()}:{server.get_exposed_port(8123)}/gateway"


@pytest.fixture(scope="module", params=["embedded", "postgres-image"])
def postgres_url(request: pytest.FixtureRequest, stack: RunningStack) -> Iterator[str]:
    """An empty database on the session's PostgreSQL, or on a server started from the image."""
    if request.param == "embedded":
        yield create_database(stack)
        return
    require_docker()
    from testcontainers.community.postgres import PostgresContainer

    image = PostgresContainer(POSTGRES_IMAGE, username="gateway", password="gateway", dbname="gateway", driver=None)
    with image as server:
        yield server.get_connection_url()


@pytest.fixture(scope="module")
async def analytics(clickhouse_target: str) -> AsyncIterator[AnalyticsStore]:
    if clickhouse_target.startswith("http"):
        store: AnalyticsStore = ClickHouseServerStore(clickhouse_target)
    else:
        store = ChdbStore(Path(clickhouse_target))
    await store.connect()
    await store.apply_schema()
    # The schema file is applied at every start or migration, so a second run must change nothing.
    await store.apply_schema()
    yield store
    await store.close()


@pytest.fixture(scope="module")
async def pool(postgres_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await database.connect(postgres_url)
    await database.apply_schema(pool)
    await database.apply_schema(pool)
    await database.prepare_schema(pool, migrate_on_start=False)
    yield pool
    await pool.close()


def usage_event(project_id: str, cost_total: str, started_at: datetime) -> UsageEvent:
    total = Decimal(cost_total)
    return UsageEvent(
        request_id=f"req_{uuid.uuid4().hex}",
        project_id=project_id,
        key_id="key_test",
        model="openai/gpt-4o-mini",
        provider="openai",
        upstream_model="gpt-4o-mini",
        status="ok",
        http_status=200,
        stream=True,
        usage=TokenUsage(prompt_tokens=11, completion_tokens=7, total_tokens=18),
        cost=CostBreakdown(input=total / 2, output=total / 2, total=total),
        started_at=started_at,
        finished_at=started_at,
        latency_ms=3.5,
        ttft_ms=1.25,
    )


async def test_retried_block_counts_once(analytics: AnalyticsStore) -> None:
    project_id = f"proj_{uuid.uuid4().hex}"
    day = date(2026, 3, 14)
    started_at = datetime(2026, 3, 14, 23, 59, 59, 999000, tzinfo=UTC)
    # Eighteen decimal places: one token of a cheap model costs less than a nano-dollar.
    block = usage_rows(
        [
            usage_event(project_id, "0.000000000000000001", started_at),
            usage_event(project_id, "12.345678901234567891", started_at),
        ]
    )
    token = uuid.uuid4().hex

    await analytics.insert_json_rows(USAGE_TABLE, block, token)
    # A retry after a crash sends the same block under the same token; the table and the rollup drop it.
    await analytics.insert_json_rows(USAGE_TABLE, block, token)
    report = await usage_report(analytics, UsageReportRequest(project_id=project_id, start=day, end=day))

    assert [row.model_dump() for row in report.rows] == [
        {
            "day": day,
            "model": "openai/gpt-4o-mini",
            "requests": 2,
            "errors": 0,
            "prompt_tokens": 22,
            "completion_tokens": 14,
            "total_tokens": 36,
            "cost_usd": Decimal("12.345678901234567892"),
        }
    ]


async def test_redelivered_event_is_recorded_once(pool: asyncpg.Pool) -> None:
    project_id = f"proj_{uuid.uuid4().hex}"
    started_at = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
    first = usage_event(project_id, "0.000000000000000001", started_at)
    second = usage_event(project_id, "12.345678901234567891", started_at)

    recorded = await record_spend(pool, [first, second], usage_rows)
    redelivered = await record_spend(pool, [second], usage_rows)
    row = await pool.fetchrow(
        "SELECT day, requests, prompt_tokens, completion_tokens, cost_usd FROM accounting.daily_spend"
        " WHERE project_id = $1",
        project_id,
    )
    queued = await pool.fetchval(
        "SELECT events FROM accounting.analytics_outbox WHERE token = $1", recorded.outbox_token
    )

    assert [event.request_id for event in recorded.new] == [first.request_id, second.request_id]
    assert (redelivered.new, redelivered.outbox_token) == ([], None)
    assert dict(row) == {
        "day": date(2026, 3, 14),
        "requests": 2,
        "prompt_tokens": 22,
        "completion_tokens": 14,
        "cost_usd": Decimal("12.345678901234567892"),
    }
    assert queued == 2


async def test_outbox_delivers_recorded_usage(pool: asyncpg.Pool, analytics: AnalyticsStore) -> None:
    project_id = f"proj_{uuid.uuid4().hex}"
    day = date(2026, 3, 15)
    events = [usage_event(project_id, "0.25", datetime(2026, 3, 15, 8, 30, tzinfo=UTC)) for _ in range(3)]
    outbox = AnalyticsOutbox(pool, analytics)

    await record_spend(pool, events, usage_rows)
    remaining = await outbox.flush()
    report = await usage_report(analytics, UsageReportRequest(project_id=project_id, start=day, end=day))

    assert remaining == 0
    assert [(row.requests, row.cost_usd) for row in report.rows] == [(3, Decimal("0.75"))]


async def test_offset_timestamp_stored_as_utc(analytics: AnalyticsStore) -> None:
    project_id = f"proj_{uuid.uuid4().hex}"
    # 01:30 at UTC+2 on 15 March is 23:30 UTC on 14 March.
    started_at = datetime(2026, 3, 15, 1, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    block = usage_rows([usage_event(project_id, "0.5", started_at)])

    await analytics.insert_json_rows(USAGE_TABLE, block, uuid.uuid4().hex)
    rows = await analytics.query_json(
        f"SELECT toString(started_at) AS started_at FROM {USAGE_TABLE} WHERE project_id = {{project_id:String}}",
        {"project_id": project_id},
    )

    assert rows == [{"started_at": "2026-03-14 23:30:00.123"}]


async def test_rejected_block_holds_back_no_other(pool: asyncpg.Pool, analytics: AnalyticsStore) -> None:
    bad_project, good_project = f"proj_{uuid.uuid4().hex}", f"proj_{uuid.uuid4().hex}"
    day = date(2026, 3, 16)
    started_at = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
    # 39 digits: more than ClickHouse's Decimal(38, x) column holds, so every insert of this block fails.
    bad = usage_rows([usage_event(bad_project, "0.5", started_at)]).replace(
        b'"cost_total":"0.5"', b'"cost_total":"' + b"9" * 39 + b'"'
    )
    bad_token = f"bad-{uuid.uuid4().hex}"
    await pool.execute(
        "INSERT INTO accounting.analytics_outbox (token, events, rows, created_at)"
        " VALUES ($1, 1, $2, now() - interval '1 hour')",
        bad_token,
        bad,
    )
    await record_spend(pool, [usage_event(good_project, "0.25", started_at)], usage_rows)
    outbox = AnalyticsOutbox(pool, analytics)

    await outbox.flush()
    delivered = await usage_report(analytics, UsageReportRequest(project_id=good_project, start=day, end=day))
    for _ in range(MAX_ATTEMPTS - 1):
        await outbox.flush()
    rejected = await pool.fetchrow(
        "SELECT events, error FROM accounting.analytics_rejected WHERE token = $1", bad_token
    )
    still_queued = await pool.fetchval("SELECT count(*) FROM accounting.analytics_outbox WHERE token = $1", bad_token)

    assert [(row.requests, row.cost_usd) for row in delivered.rows] == [(1, Decimal("0.25"))]
    assert rejected is not None
    assert rejected["events"] == 1
    assert rejected["error"]
    assert still_queued == 0
