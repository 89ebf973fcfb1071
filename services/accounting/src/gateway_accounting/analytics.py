"""Usage analytics in ClickHouse: chdb in a child process, or a server through clickhouse-connect.

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
import sys
from collections.abc import Sequence
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

import msgspec
import orjson

from gateway_accounting.chdb_worker import encode_frame
from gateway_accounting.decoding import Usage
from gateway_contracts import COST_PARTS

USAGE_TABLE = "gateway.usage_events"
HOURLY_TABLE = "gateway.usage_hourly"

# Applied to every insert: the token names the block, and the rollups fed by
# materialized views check their own blocks against it too.
_DEDUPLICATION_SETTING = "deduplicate_blocks_in_dependent_materialized_views"
# Rows written before orjson wrote the timestamps have `YYYY-MM-DD hh:mm:ss.sss`, which this parses too.
_TIMESTAMP_SETTING = "date_time_input_format"
# Seconds a chdb worker gets to finish its query and close the session after `close`.
_WORKER_EXIT_SECONDS = 30.0


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


class ChdbError(RuntimeError):
    """A query that chdb rejected, or a chdb worker that failed to start or died."""


class ChdbStore:
    """ClickHouse's engine in a child process (`chdb_worker`), with its data under `path`.

    The worker runs one query at a time, in the order they arrive here. A
    worker that died, or whose call was cancelled halfway, is replaced on the
    next call. The outbox retries the insert it may have been running under
    the same deduplication token.
    """

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._worker: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    @property
    def worker_pid(self) -> int | None:
        return self._worker.pid if self._worker is not None else None

    async def connect(self) -> None:
        async with self._lock:
            await self._ensure_worker()

    async def apply_schema(self) -> None:
        for statement in _schema_statements():
            await self._query(statement, "CSV", {})

    async def insert_json_rows(self, table: str, rows: bytes, token: str) -> None:
        # The token is a hex string that accounting generates, never client input.
        statement = (
            f"INSERT INTO {table} SETTINGS insert_deduplication_token = '{token}', {_DEDUPLICATION_SETTING} = 1,"
            f" {_TIMESTAMP_SETTING} = 'best_effort' FORMAT JSONEachRow\n{rows.decode()}"
        )
        await self._query(statement, "CSV", {})

    async def query_json(self, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        data = await self._query(sql, "JSON", parameters)
        return orjson.loads(data)["data"] if data else []

    async def close(self) -> None:
        async with self._lock:
            worker, self._worker = self._worker, None
            if worker is None:
                return
            # The end of its input makes the worker close the session and exit.
            assert worker.stdin is not None
            worker.stdin.close()
            try:
                await asyncio.wait_for(worker.wait(), _WORKER_EXIT_SECONDS)
            except TimeoutError:
                worker.kill()
                await worker.wait()

    async def _query(self, sql: str, output_format: str, parameters: dict[str, Any]) -> bytes:
        async with self._lock:
            worker = await self._ensure_worker()
            try:
                ok, payload = await self._exchange(worker, [sql, output_format, parameters])
            except BaseException:
                # A half-read response would misalign every later one, so the worker is replaced.
                await self._discard(worker)
                raise
        if not ok:
            raise ChdbError(payload)
        data: bytes = payload
        return data

    async def _ensure_worker(self) -> asyncio.subprocess.Process:
        if self._worker is not None and self._worker.returncode is None:
            return self._worker
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway_accounting.chdb_worker",
            str(self._path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            ok, payload = await self._receive(worker)
        except BaseException:
            await self._discard(worker)
            raise
        if not ok:
            await worker.wait()
            raise ChdbError(payload)
        self._worker = worker
        return worker

    async def _exchange(self, worker: asyncio.subprocess.Process, request: list[Any]) -> list[Any]:
        assert worker.stdin is not None
        worker.stdin.write(encode_frame(request))
        await worker.stdin.drain()
        return await self._receive(worker)

    async def _receive(self, worker: asyncio.subprocess.Process) -> list[Any]:
        assert worker.stdout is not None
        try:
            header = await worker.stdout.readexactly(4)
            payload = await worker.stdout.readexactly(int.from_bytes(header, "big"))
        except asyncio.IncompleteReadError as error:
            raise ChdbError(
                f"The chdb worker for {self._path} exited (status {await worker.wait()}); "
                "its messages are on accounting's standard error"
            ) from error
        response: list[Any] = msgspec.msgpack.decode(payload)
        return response

    async def _discard(self, worker: asyncio.subprocess.Process) -> None:
        if worker.returncode is None:
            worker.kill()
        await asyncio.shield(worker.wait())
        if self._worker is worker:
            self._worker = None


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
            "or install `gateway-accounting[chdb]` to run ClickHouse's engine in a child process."
        )
    return ChdbStore(chdb_path)


_COST_COLUMNS = tuple((f"cost_{part}", part) for part in COST_PARTS)


def _decimal(value: Decimal) -> str:
    # Fixed-point text. chdb 26.9 reads `1E-7` into a Decimal, but no test
    # runs the 25.8 server of docker-compose.yml with it. Zero parts, the
    # most common, skip the formatting.
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
