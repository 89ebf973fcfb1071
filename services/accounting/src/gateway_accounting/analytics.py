"""Usage analytics in ClickHouse: in process with chdb, or a server through clickhouse-connect.

Both stores take the same SQL and the same JSONEachRow rows, so the schema
and every query are written once. Rows are inserted in blocks that carry a
deduplication token. ClickHouse drops a block that it already stored under
the same token, in the events table and in each rollup separately, so a
block retried after a crash is counted once even when the crash fell between
the table and a rollup.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

import orjson

from gateway_accounting.decoding import Usage
from gateway_contracts import COST_PARTS

USAGE_TABLE = "gateway.usage_events"
HOURLY_TABLE = "gateway.usage_hourly"

# Applied to every insert: the token names the block, and the rollups fed by
# materialized views check their own blocks against it too.
_DEDUPLICATION_SETTING = "deduplicate_blocks_in_dependent_materialized_views"
# Rows written before orjson wrote the timestamps have `YYYY-MM-DD hh:mm:ss.sss`, which this parses too.
_TIMESTAMP_SETTING = "date_time_input_format"


class AnalyticsStore(Protocol):
    async def connect(self) -> None: ...

    async def apply_schema(self) -> None: ...

    async def insert_json_rows(self, table: str, rows: bytes, token: str) -> None: ...

    async def query_json(self, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]: ...

    async def close(self) -> None: ...


def _schema_statements() -> list[str]:
    text = files("gateway_accounting").joinpath("analytics_schema.sql").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


class ChdbStore:
    """ClickHouse's engine inside this process, with its data under `path`.

    chdb calls block, so they run on one worker thread, which also keeps the
    session single-threaded.
    """

    def __init__(self, path: Path) -> None:
        from chdb import session

        path.mkdir(parents=True, exist_ok=True)
        self._session = session.Session(str(path))
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chdb")

    async def _run(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def connect(self) -> None:
        """Open nothing, because the chdb session opened with the store."""

    async def apply_schema(self) -> None:
        for statement in _schema_statements():
            await self._run(self._session.query, statement)

    async def insert_json_rows(self, table: str, rows: bytes, token: str) -> None:
        # The token is a hex string that accounting generates, never client input.
        statement = (
            f"INSERT INTO {table} SETTINGS insert_deduplication_token = '{token}', {_DEDUPLICATION_SETTING} = 1,"
            f" {_TIMESTAMP_SETTING} = 'best_effort' FORMAT JSONEachRow\n{rows.decode()}"
        )
        await self._run(self._session.query, statement)

    async def query_json(self, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        result = await self._run(lambda: self._session.query(sql, "JSON", params=parameters))
        data = result.bytes()
        return orjson.loads(data)["data"] if data else []

    async def close(self) -> None:
        await self._run(self._session.close)
        self._executor.shutdown(wait=True)


class ClickHouseServerStore:
    """A ClickHouse server reached over HTTP."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._client: Any = None

    async def connect(self) -> None:
        import clickhouse_connect

        self._client = await clickhouse_connect.get_async_client(dsn=self._url)

    async def apply_schema(self) -> None:
        if self._client is None:
            await self.connect()
        for statement in _schema_statements():
            await self._client.command(statement)

    async def insert_json_rows(self, table: str, rows: bytes, token: str) -> None:
        settings = {"insert_deduplication_token": token, _DEDUPLICATION_SETTING: 1, _TIMESTAMP_SETTING: "best_effort"}
        await self._client.raw_insert(table, insert_block=rows, settings=settings, fmt="JSONEachRow")

    async def query_json(self, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        data = await self._client.raw_query(sql, parameters=parameters, fmt="JSON")
        return orjson.loads(data)["data"] if data else []

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


def open_store(clickhouse_url: str | None, chdb_path: Path) -> AnalyticsStore:
    if clickhouse_url:
        return ClickHouseServerStore(clickhouse_url)
    # chdb is an optional dependency (the `chdb` extra), which container images leave out for a ClickHouse server.
    if importlib.util.find_spec("chdb") is None:
        raise SystemExit(
            "CLICKHOUSE_URL is not set and chdb is not installed; set CLICKHOUSE_URL to a ClickHouse server, "
            "or install `gateway-accounting[chdb]` to run ClickHouse's engine in process."
        )
    return ChdbStore(chdb_path)


_COST_COLUMNS = tuple((f"cost_{part}", part) for part in COST_PARTS)


def _decimal(value: Decimal) -> str:
    # Fixed-point text: the Decimal parser of ClickHouse 25.8 (the server in
    # docker-compose.yml) does not take `1E-7`. Most cost parts are zero,
    # which skip the formatting.
    return format(value, "f") if value else "0"


def usage_rows(events: Sequence[Usage]) -> bytes:
    """Encode events as JSONEachRow lines for `USAGE_TABLE`.

    Timestamps are written as orjson writes datetimes (RFC 3339 with the
    offset), which the inserts parse with `date_time_input_format = 'best_effort'`.
    """
    lines = []
    for event in events:
        usage, cost = event.usage, event.cost
        row = {
            "request_id": event.request_id,
            "project_id": event.project_id,
            "key_id": event.key_id,
            "model": event.model,
            "provider": event.provider,
            "upstream_model": event.upstream_model,
            "status": event.status,
            "http_status": event.http_status,
            "error_code": event.error_code or "",
            "stream": event.stream,
            "emulated": event.emulated,
            "session_id": event.session_id or "",
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_input_tokens": usage.audio_input_tokens,
            "audio_output_tokens": usage.audio_output_tokens,
            "cache_write_1h_tokens": usage.cache_write_1h_tokens,
            "input_images": usage.input_images,
            "output_images": usage.output_images,
            "cost_estimated": cost.estimated,
            "cost_total": _decimal(cost.total),
            "started_at": event.started_at,
            "finished_at": event.finished_at,
            "latency_ms": event.latency_ms,
            "ttft_ms": event.ttft_ms,
        }
        for column, part in _COST_COLUMNS:
            row[column] = _decimal(getattr(cost, part))
        lines.append(orjson.dumps(row))
    return b"\n".join(lines)


USAGE_REPORT_SQL = f"""
SELECT
    toDate(hour) AS day,
    model,
    sum(requests) AS requests,
    sum(errors) AS errors,
    sum(prompt_tokens) AS prompt_tokens,
    sum(completion_tokens) AS completion_tokens,
    sum(total_tokens) AS total_tokens,
    toString(sum(cost_total)) AS cost_usd
FROM {HOURLY_TABLE}
WHERE project_id = {{project_id:String}}
  AND hour >= toDateTime({{start:Date}}, 'UTC') AND hour < toDateTime({{end:Date}} + 1, 'UTC')
GROUP BY day, model
ORDER BY day, model
"""

TOKEN_KINDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "audio_input_tokens",
    "audio_output_tokens",
    "input_images",
    "output_images",
)
# Rollup columns by the name the API groups by; only these names reach the SQL text.
DIMENSIONS = {"model": "model", "provider": "provider", "key": "key_id"}


def analytics_sql(period: str | None, dimensions: list[str], by_key: bool) -> str:
    """Build the rollup query for a period (`hour`, `day` or None for totals) and dimensions.

    Every value comes in as a query parameter; the SQL text varies only by
    the fixed period expressions and the column names in `DIMENSIONS`.
    """
    columns = [DIMENSIONS[name] for name in dimensions]
    select = []
    if period == "hour":
        select.append("toUnixTimestamp(hour) AS period")
    elif period == "day":
        select.append("toUnixTimestamp(toStartOfDay(hour, {timezone:String})) AS period")
    select.extend(columns)
    select.append("sum(requests) AS requests")
    select.append("sum(errors) AS errors")
    select.extend(f"sum({kind}) AS {kind}" for kind in TOKEN_KINDS)
    select.extend(f"toString(sum(cost_{part})) AS cost_{part}" for part in (*COST_PARTS, "total"))
    select.append("quantilesTDigestMerge(0.5, 0.9, 0.99)(latency_ms) AS latency_ms")
    select.append("quantilesTDigestMerge(0.5, 0.9, 0.99)(ttft_ms) AS ttft_ms")

    where = "project_id = {project_id:String} AND hour >= {start:DateTime} AND hour < {end:DateTime}"
    if by_key:
        where += " AND key_id = {key_id:String}"
    groups = (["period"] if period else []) + columns
    sql = f"SELECT {', '.join(select)} FROM {HOURLY_TABLE} WHERE {where}"
    if groups:
        sql += f" GROUP BY {', '.join(groups)} ORDER BY {', '.join(groups)}"
    return sql


# The newest requests of a project, from the events table. The bound in days
# keeps the scan to a few days of the sort key. `LIMIT 1 BY` drops a duplicate
# row that ReplacingMergeTree has not merged away yet.
RECENT_REQUESTS_DAYS = 7
RECENT_REQUESTS_SQL = f"""
SELECT
    request_id, key_id, model, provider, status, http_status, error_code, stream, session_id,
    toUnixTimestamp64Milli(started_at) AS started_at_ms, latency_ms, ttft_ms,
    {", ".join(TOKEN_KINDS)},
    toString(cost_total) AS cost_total
FROM {USAGE_TABLE}
WHERE project_id = {{project_id:String}} AND toDate(started_at) >= today() - {RECENT_REQUESTS_DAYS}
ORDER BY started_at DESC, request_id
LIMIT 1 BY request_id
LIMIT {{limit:UInt32}}
"""

# Per UTC day of a project: the events table counted without FINAL (so any
# duplicate would show) and the rollup the analytics read.
RECONCILE_EVENTS_SQL = f"""
SELECT toDate(started_at) AS day, count() AS requests, toString(sum(cost_total)) AS cost_usd
FROM {USAGE_TABLE}
WHERE project_id = {{project_id:String}} AND toDate(started_at) BETWEEN {{start:Date}} AND {{end:Date}}
GROUP BY day ORDER BY day
"""
RECONCILE_ROLLUP_SQL = f"""
SELECT toDate(hour) AS day, sum(requests) AS requests, toString(sum(cost_total)) AS cost_usd
FROM {HOURLY_TABLE}
WHERE project_id = {{project_id:String}}
  AND hour >= toDateTime({{start:Date}}, 'UTC') AND hour < toDateTime({{end:Date}} + 1, 'UTC')
GROUP BY day ORDER BY day
"""
