"""Daily spend in PostgreSQL, counted once per request, with the ClickHouse rows in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from gateway_accounting.decoding import Usage

# Inserting the usage records and adding only the newly inserted ones to the
# daily totals happen in one statement, so a redelivered event that hits the
# primary key adds nothing, even when it shares a batch with new events.
_RECORD_AND_ADD = """
WITH incoming AS (
    SELECT *
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                $6::bigint[], $7::bigint[], $8::numeric[], $9::timestamptz[],
                $10::numeric[], $11::numeric[])
        AS t(request_id, project_id, key_id, model, status,
             prompt_tokens, completion_tokens, cost_usd, started_at,
             reserved_project_usd, reserved_key_usd)
),
inserted AS (
    INSERT INTO accounting.usage_records
        (request_id, project_id, key_id, model, status, day,
         prompt_tokens, completion_tokens, cost_usd, started_at,
         reserved_project_usd, reserved_key_usd)
    SELECT i.request_id, i.project_id, i.key_id, i.model, i.status,
           (i.started_at AT TIME ZONE coalesce(p.timezone, 'UTC'))::date,
           i.prompt_tokens, i.completion_tokens, i.cost_usd, i.started_at,
           i.reserved_project_usd, i.reserved_key_usd
    FROM incoming i
    LEFT JOIN accounting.projects p ON p.id = i.project_id
    ON CONFLICT (request_id) DO NOTHING
    RETURNING request_id, project_id, key_id, day, model, status, prompt_tokens, completion_tokens,
              cost_usd, reserved_project_usd, reserved_key_usd
),
by_project AS (
    INSERT INTO accounting.daily_spend AS d
        (project_id, day, model, requests, errors, prompt_tokens, completion_tokens, cost_usd, reserved_usd)
    SELECT project_id, day, model, count(*), count(*) FILTER (WHERE status = 'error'),
           sum(prompt_tokens), sum(completion_tokens), sum(cost_usd), sum(reserved_project_usd)
    FROM inserted
    GROUP BY project_id, day, model
    ON CONFLICT (project_id, day, model) DO UPDATE SET
        requests          = d.requests + EXCLUDED.requests,
        errors            = d.errors + EXCLUDED.errors,
        prompt_tokens     = d.prompt_tokens + EXCLUDED.prompt_tokens,
        completion_tokens = d.completion_tokens + EXCLUDED.completion_tokens,
        cost_usd          = d.cost_usd + EXCLUDED.cost_usd,
        reserved_usd      = d.reserved_usd + EXCLUDED.reserved_usd
),
by_key AS (
    INSERT INTO accounting.key_daily_spend AS k (key_id, day, project_id, requests, cost_usd, reserved_usd)
    SELECT key_id, day, min(project_id), count(*), sum(cost_usd), sum(reserved_key_usd)
    FROM inserted
    GROUP BY key_id, day
    ON CONFLICT (key_id, day) DO UPDATE SET
        requests     = k.requests + EXCLUDED.requests,
        cost_usd     = k.cost_usd + EXCLUDED.cost_usd,
        reserved_usd = k.reserved_usd + EXCLUDED.reserved_usd
)
SELECT request_id FROM inserted
"""

_COLUMNS = 11


@dataclass(frozen=True, slots=True)
class RecordedBatch:
    """The events of a batch that PostgreSQL had not seen before."""

    new: list[Usage]
    # The outbox token of their ClickHouse rows; None when nothing was new.
    outbox_token: str | None


async def record_spend(
    pool: asyncpg.Pool, events: Sequence[Usage], encode_rows: Callable[[Sequence[Usage]], bytes]
) -> RecordedBatch:
    """Record the events, add the new ones to the daily totals and queue their ClickHouse rows, atomically.

    Whatever this commits is counted exactly once in PostgreSQL, and the
    outbox row contains exactly the new events' rows for ClickHouse, so a crash
    at any point leaves either nothing or everything for the retry.
    """
    columns: list[list[object]] = [[] for _ in range(_COLUMNS)]
    for event in events:
        values = (
            event.request_id,
            event.project_id,
            event.key_id,
            event.model,
            event.status,
            event.usage.prompt_tokens,
            event.usage.completion_tokens,
            event.cost.total,
            event.started_at,
            event.reserved_project_usd,
            event.reserved_key_usd,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)

    async with pool.acquire() as connection, connection.transaction():
        inserted = {row["request_id"] for row in await connection.fetch(_RECORD_AND_ADD, *columns)}
        new = [event for event in events if event.request_id in inserted]
        if not new:
            return RecordedBatch(new=[], outbox_token=None)
        token = uuid.uuid4().hex
        await connection.execute(
            "INSERT INTO accounting.analytics_outbox (token, events, rows) VALUES ($1, $2, $3)",
            token,
            len(new),
            encode_rows(new),
        )
    return RecordedBatch(new=new, outbox_token=token)
