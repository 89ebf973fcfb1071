"""Usage analytics in ClickHouse: in process with chdb, or a server through clickhouse-connect.

Both stores take the same SQL and the same JSONEachRow rows, so the schema
and every query are written once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

import orjson

from gateway_contracts import UsageEvent

USAGE_TABLE = "gateway.usage_events"


class AnalyticsStore(Protocol):
    async def apply_schema(self) -> None: ...

    async def insert_json_rows(self, table: str, rows: bytes) -> None: ...

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

    async def apply_schema(self) -> None:
        for statement in _schema_statements():
            await self._run(self._session.query, statement)

    async def insert_json_rows(self, table: str, rows: bytes) -> None:
        await self._run(self._session.query, f"INSERT INTO {table} FORMAT JSONEachRow\n{rows.decode()}")

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

    async def apply_schema(self) -> None:
        import clickhouse_connect

        self._client = await clickhouse_connect.get_async_client(dsn=self._url)
        for statement in _schema_statements():
            await self._client.command(statement)

    async def insert_json_rows(self, table: str, rows: bytes) -> None:
        await self._client.raw_insert(table, insert_block=rows, fmt="JSONEachRow")

    async def query_json(self, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        data = await self._client.raw_query(sql, parameters=parameters, fmt="JSON")
        return orjson.loads(data)["data"] if data else []

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


def open_store(clickhouse_url: str | None, chdb_path: Path) -> AnalyticsStore:
    if clickhouse_url:
        return ClickHouseServerStore(clickhouse_url)
    return ChdbStore(chdb_path)


def _decimal(value: Decimal) -> str:
    # Fixed-point text: ClickHouse's Decimal parser does not take `1E-7`.
    return format(value, "f")


def usage_rows(events: Sequence[UsageEvent]) -> bytes:
    """Encode events as JSONEachRow lines for `USAGE_TABLE`."""
    lines = []
    for event in events:
        usage, cost = event.usage, event.cost
        lines.append(
            orjson.dumps(
                {
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
                    "cost_input": _decimal(cost.input),
                    "cost_cached_input": _decimal(cost.cached_input),
                    "cost_cache_write": _decimal(cost.cache_write),
                    "cost_output": _decimal(cost.output),
                    "cost_reasoning": _decimal(cost.reasoning),
                    "cost_audio_input": _decimal(cost.audio_input),
                    "cost_audio_output": _decimal(cost.audio_output),
                    "cost_total": _decimal(cost.total),
                    "started_at": event.started_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                    "finished_at": event.finished_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                    "latency_ms": event.latency_ms,
                    "ttft_ms": event.ttft_ms,
                }
            )
        )
    return b"\n".join(lines)


USAGE_REPORT_SQL = f"""
SELECT
    toDate(started_at) AS day,
    model,
    count() AS requests,
    countIf(status = 'error') AS errors,
    sum(prompt_tokens) AS prompt_tokens,
    sum(completion_tokens) AS completion_tokens,
    sum(total_tokens) AS total_tokens,
    toString(sum(cost_total)) AS cost_usd
FROM {USAGE_TABLE} FINAL
WHERE project_id = {{project_id:String}}
  AND toDate(started_at) BETWEEN {{start:Date}} AND {{end:Date}}
GROUP BY day, model
ORDER BY day, model
"""
