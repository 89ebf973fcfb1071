"""Daily spend in PostgreSQL, counted once per request."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from gateway_contracts import UsageEvent

# Inserting the usage records and adding only the newly inserted ones to the
# daily totals happen in one statement, so a redelivered event that hits the
# primary key adds nothing, even when it shares a batch with new events.
_RECORD_AND_ADD = """
WITH incoming AS (
    SELECT *
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                $6::bigint[], $7::bigint[], $8::numeric[], $9::timestamptz[])
        AS t(request_id, project_id, key_id, model, status,
             prompt_tokens, completion_tokens, cost_usd, started_at)
),
inserted AS (
    INSERT INTO accounting.usage_records
        (request_id, project_id, key_id, model, status, day,
         prompt_tokens, completion_tokens, cost_usd, started_at)
    SELECT i.request_id, i.project_id, i.key_id, i.model, i.status,
           (i.started_at AT TIME ZONE coalesce(p.timezone, 'UTC'))::date,
           i.prompt_tokens, i.completion_tokens, i.cost_usd, i.started_at
    FROM incoming i
    LEFT JOIN accounting.projects p ON p.id = i.project_id
    ON CONFLICT (request_id) DO NOTHING
    RETURNING project_id, day, model, status, prompt_tokens, completion_tokens, cost_usd
)
INSERT INTO accounting.daily_spend AS d
    (project_id, day, model, requests, errors, prompt_tokens, completion_tokens, cost_usd)
SELECT project_id, day, model, count(*), count(*) FILTER (WHERE status = 'error'),
       sum(prompt_tokens), sum(completion_tokens), sum(cost_usd)
FROM inserted
GROUP BY project_id, day, model
ON CONFLICT (project_id, day, model) DO UPDATE SET
    requests          = d.requests + EXCLUDED.requests,
    errors            = d.errors + EXCLUDED.errors,
    prompt_tokens     = d.prompt_tokens + EXCLUDED.prompt_tokens,
    completion_tokens = d.completion_tokens + EXCLUDED.completion_tokens,
    cost_usd          = d.cost_usd + EXCLUDED.cost_usd
"""


async def record_spend(pool: asyncpg.Pool, events: Sequence[UsageEvent]) -> None:
    columns: list[list[object]] = [[] for _ in range(9)]
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
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    await pool.execute(_RECORD_AND_ADD, *columns)
