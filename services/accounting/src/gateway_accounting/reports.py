"""Usage reports, analytics and reconciliation of a project, read from ClickHouse's rollups."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from gateway_accounting.analytics import (
    RECENT_REQUESTS_SQL,
    RECONCILE_EVENTS_SQL,
    RECONCILE_ROLLUP_SQL,
    TOKEN_KINDS,
    USAGE_REPORT_SQL,
    AnalyticsStore,
    analytics_sql,
)
from gateway_accounting.outbox import AnalyticsOutbox
from gateway_contracts import COST_PARTS
from gateway_contracts.rpc import (
    AnalyticsReport,
    AnalyticsRequest,
    AnalyticsRow,
    Percentiles,
    RecentRequest,
    RecentRequests,
    RecentRequestsRequest,
    ReconcileDay,
    ReconcileReport,
    ReconcileRequest,
    RpcError,
    UsageReport,
    UsageReportRequest,
    UsageRow,
)
from gateway_contracts.rpc_nats import RpcRejected

# Analytics read hourly rollups; a range longer than this is refused rather than left to run long.
MAX_ANALYTICS_DAYS = 400


async def usage_report(store: AnalyticsStore, request: UsageReportRequest) -> UsageReport:
    rows = await store.query_json(
        USAGE_REPORT_SQL,
        {"project_id": request.project_id, "start": request.start.isoformat(), "end": request.end.isoformat()},
    )
    return UsageReport(rows=[UsageRow.model_validate(row) for row in rows])


async def analytics(store: AnalyticsStore, pool: asyncpg.Pool, request: AnalyticsRequest) -> AnalyticsReport:
    """Totals and, with a granularity, a time series of the project's requests from the hourly rollup."""
    timezone = request.timezone or await _project_timezone(pool, request.project_id)
    _check_range(request, timezone)
    start = _hour_floor(request.start)
    end = _hour_floor(request.end + timedelta(minutes=59, seconds=59, microseconds=999999))
    parameters: dict[str, Any] = {
        "project_id": request.project_id,
        "start": start.strftime("%Y-%m-%d %H:%M:%S"),
        "end": end.strftime("%Y-%m-%d %H:%M:%S"),
        "timezone": timezone,
    }
    by_key = request.key_id is not None
    if by_key:
        parameters["key_id"] = request.key_id

    [totals] = await store.query_json(analytics_sql(None, [], by_key), parameters)
    rows: list[dict[str, Any]] = []
    if request.granularity is not None or request.group_by:
        rows = await store.query_json(analytics_sql(request.granularity, request.group_by, by_key), parameters)
    return AnalyticsReport(
        project_id=request.project_id,
        timezone=timezone,
        totals=_row(totals, timezone),
        rows=[_row(row, timezone) for row in rows],
    )


async def recent_requests(store: AnalyticsStore, request: RecentRequestsRequest) -> RecentRequests:
    """Read the project's newest requests of the last `RECENT_REQUESTS_DAYS` days, the newest first."""
    rows = await store.query_json(RECENT_REQUESTS_SQL, {"project_id": request.project_id, "limit": request.limit})
    return RecentRequests(project_id=request.project_id, data=[_recent(row) for row in rows])


async def reconcile(
    store: AnalyticsStore, pool: asyncpg.Pool, outbox: AnalyticsOutbox, request: ReconcileRequest
) -> ReconcileReport:
    """Compare a project's requests and spend in PostgreSQL and in ClickHouse, per UTC day."""
    parameters = {"project_id": request.project_id, "start": request.start.isoformat(), "end": request.end.isoformat()}
    events = {row["day"]: row for row in await store.query_json(RECONCILE_EVENTS_SQL, parameters)}
    rollup = {row["day"]: row for row in await store.query_json(RECONCILE_ROLLUP_SQL, parameters)}
    postgres = {
        row["day"].isoformat(): row
        for row in await pool.fetch(
            """
            SELECT (started_at AT TIME ZONE 'UTC')::date AS day, count(*) AS requests, sum(cost_usd) AS cost_usd
            FROM accounting.usage_records
            WHERE project_id = $1 AND started_at >= $2 AND started_at < $3
            GROUP BY 1
            """,
            request.project_id,
            datetime.combine(request.start, datetime.min.time(), UTC),
            datetime.combine(request.end + timedelta(days=1), datetime.min.time(), UTC),
        )
    }
    pending = await outbox.pending_events()
    days = []
    for day in sorted(set(events) | set(rollup) | set(postgres)):
        pg = postgres.get(day)
        ch = events.get(day, {})
        rolled = rollup.get(day, {})
        entry = ReconcileDay(
            day=day,
            postgres_requests=pg["requests"] if pg else 0,
            postgres_usd=pg["cost_usd"] if pg else Decimal(0),
            clickhouse_requests=int(ch.get("requests", 0)),
            clickhouse_usd=Decimal(ch.get("cost_usd", "0")),
            rollup_requests=int(rolled.get("requests", 0)),
            rollup_usd=Decimal(rolled.get("cost_usd", "0")),
            pending_requests=pending,
            matches=False,
        )
        entry.matches = (
            entry.postgres_requests == entry.clickhouse_requests == entry.rollup_requests
            and entry.postgres_usd == entry.clickhouse_usd == entry.rollup_usd
        )
        days.append(entry)
    return ReconcileReport(project_id=request.project_id, days=days, matches=all(day.matches for day in days))


async def _project_timezone(pool: asyncpg.Pool, project_id: str) -> str:
    timezone = await pool.fetchval("SELECT timezone FROM accounting.projects WHERE id = $1", project_id)
    if timezone is None:
        raise RpcRejected(RpcError(code="not_found", message=f"No project with id `{project_id}`."))
    return str(timezone)


def _check_range(request: AnalyticsRequest, timezone: str) -> None:
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise RpcRejected(
            RpcError(code="invalid_request", message=f"Unknown time zone `{timezone}`; use an IANA name such as `UTC`.")
        ) from None
    if request.end <= request.start:
        raise RpcRejected(RpcError(code="invalid_request", message="`end` must be after `start`."))
    if request.end - request.start > timedelta(days=MAX_ANALYTICS_DAYS):
        raise RpcRejected(
            RpcError(code="invalid_request", message=f"The range may span at most {MAX_ANALYTICS_DAYS} days.")
        )


def _hour_floor(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def _row(row: dict[str, Any], timezone: str) -> AnalyticsRow:
    requests = int(row["requests"])
    errors = int(row["errors"])
    period = row.get("period")
    return AnalyticsRow(
        period=datetime.fromtimestamp(int(period), zoneinfo.ZoneInfo(timezone)) if period is not None else None,
        model=row.get("model"),
        provider=row.get("provider"),
        key_id=row.get("key_id"),
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests else 0.0,
        tokens={kind: int(row[kind]) for kind in TOKEN_KINDS},
        cost_usd={part: Decimal(row[f"cost_{part}"]) for part in (*COST_PARTS, "total")},
        latency_ms=_percentiles(row["latency_ms"]),
        ttft_ms=_percentiles(row["ttft_ms"]),
    )


def _recent(row: dict[str, Any]) -> RecentRequest:
    # ClickHouse's JSON output quotes 64-bit integers, so they are converted here.
    return RecentRequest(
        request_id=row["request_id"],
        key_id=row["key_id"],
        model=row["model"],
        provider=row["provider"],
        status=row["status"],
        http_status=int(row["http_status"]),
        error_code=row["error_code"],
        stream=bool(row["stream"]),
        session_id=row["session_id"] or None,
        started_at=datetime.fromtimestamp(int(row["started_at_ms"]) / 1000, UTC),
        latency_ms=float(row["latency_ms"]),
        ttft_ms=float(row["ttft_ms"]) if row["ttft_ms"] is not None else None,
        tokens={kind: int(row[kind]) for kind in TOKEN_KINDS},
        cost_usd=Decimal(row["cost_total"]),
    )


def _percentiles(values: list[float | None] | None) -> Percentiles:
    # An empty t-digest gives NaN, which ClickHouse's JSON output writes as null.
    if not values or any(value is None or value != value for value in values):
        return Percentiles(p50=None, p90=None, p99=None)
    p50, p90, p99 = (round(float(value), 3) for value in values if value is not None)
    return Percentiles(p50=p50, p90=p90, p99=p99)
