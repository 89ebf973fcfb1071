"""Budget records for the edges, budget threshold events, and the budget status for admins.

Accounting owns `bus.BUDGET_BUCKET`: after each batch it writes the record
of every touched project that has a cap or a capped key, and admin changes
rewrite the record of the project they change. A record carries the spend
of the last two budget days, read from the daily totals that the batch
updated in the same transaction as the usage records, so it is never ahead
of PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

import asyncpg
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from gateway_contracts import (
    BudgetRecord,
    BudgetThresholdEvent,
    DaySpend,
    KeyBudget,
    LedgerRecord,
    bus,
    event_id,
    ledger_key,
)
from gateway_contracts.budget import resets_at, standing
from gateway_contracts.exhaustion import announce_exhausted, exhausted_event_id
from gateway_contracts.public_events import BudgetExhausted, BudgetThresholdCrossed
from gateway_contracts.publishing import build_event, publish_event
from gateway_contracts.rpc import BudgetState, BudgetStatus, KeyBudgetStatus

logger = logging.getLogger("gateway_accounting.budgets")

_ZERO = Decimal(0)

# With $2 true, uncapped projects are included too: the budget status reports their spend.
_CAPPED_PROJECTS = """
SELECT p.id, p.timezone, p.daily_budget_usd, p.budget_alert_threshold,
       (now() AT TIME ZONE p.timezone)::date AS today
FROM accounting.projects p
WHERE p.id = ANY($1)
  AND ($2 OR p.daily_budget_usd IS NOT NULL OR EXISTS (
      SELECT 1 FROM accounting.credentials c
      WHERE c.project_id = p.id AND c.kind = 'api_key' AND c.revoked_at IS NULL AND c.daily_budget_usd IS NOT NULL))
"""
_CAPPED_KEYS = """
SELECT id, project_id, daily_budget_usd FROM accounting.credentials
WHERE project_id = ANY($1) AND kind = 'api_key' AND revoked_at IS NULL AND daily_budget_usd IS NOT NULL
"""
_PROJECT_DAYS = """
SELECT d.project_id, d.day, sum(d.cost_usd) AS spent, sum(d.reserved_usd) AS settled
FROM accounting.daily_spend d JOIN accounting.projects p ON p.id = d.project_id
WHERE d.project_id = ANY($1) AND d.day >= (now() AT TIME ZONE p.timezone)::date - 1
GROUP BY d.project_id, d.day
"""
_KEY_DAYS = """
SELECT k.key_id, k.day, k.cost_usd AS spent, k.reserved_usd AS settled
FROM accounting.key_daily_spend k JOIN accounting.projects p ON p.id = k.project_id
WHERE k.key_id = ANY($1) AND k.day >= (now() AT TIME ZONE p.timezone)::date - 1
"""


class BudgetPublisher:
    def __init__(self, pool: asyncpg.Pool, js: JetStreamContext, budgets: KeyValue, ledger: KeyValue) -> None:
        self._pool = pool
        self._js = js
        self._budgets = budgets
        self._ledger = ledger
        # Alert thresholds and today's budget day of the projects last published, for threshold checks.
        self._thresholds: dict[str, tuple[Decimal, date]] = {}
        # Projects and days whose `BudgetExhausted` event went out, as this process saw; saves a KV read.
        self._exhausted: set[tuple[str, date]] = set()

    async def publish(self, project_ids: Collection[str], *, remove_uncapped: bool = False) -> list[BudgetRecord]:
        """Write the records of the capped projects among `project_ids`.

        With `remove_uncapped`, the records of the others are deleted, which
        is what an admin change that removes the last cap needs.
        """
        ids = list(project_ids)
        if not ids:
            return []
        records = await self._records(ids)
        for record in records:
            await self._budgets.put(record.project_id, record.model_dump_json().encode())
        if remove_uncapped:
            capped = {record.project_id for record in records}
            for project_id in ids:
                if project_id not in capped:
                    await self._delete(project_id)
        return records

    async def publish_all(self) -> None:
        """Make the bucket hold exactly the capped projects' records; run at start."""
        ids = [row["id"] for row in await self._pool.fetch("SELECT id FROM accounting.projects")]
        records = await self.publish(ids)
        capped = {record.project_id for record in records}
        stale = [key for key in await _bucket_keys(self._budgets) if key not in capped]
        for key in stale:
            await self._delete(key)
        logger.info("Published %d budget records; removed %d stale ones", len(records), len(stale))

    async def check_thresholds(self, records: list[BudgetRecord], last_requests: Mapping[str, str]) -> None:
        """Publish a threshold event for each project whose spend today crossed its threshold, once a day,
        and an exhausted event for each that reached its cap.

        Runs after each batch and after an admin changes a cap, so a cap set
        below today's spend announces both at once. The alert row and the
        threshold events go together: the row is committed only after
        JetStream acknowledged the events, so a failure leaves neither and
        the next batch tries again. `last_requests` names the request that
        each event reports as its cause; without one, the admin request.
        """
        for record in records:
            if record.cap_usd is None or record.cap_usd <= 0:
                continue
            threshold, today = self._thresholds[record.project_id]
            spent = record.days.get(today, DaySpend()).spent_usd
            if spent < threshold * record.cap_usd:
                continue
            request_id = last_requests.get(record.project_id)
            await self._alert(record, threshold, today, spent, request_id)
            if spent >= record.cap_usd and (record.project_id, today) not in self._exhausted:
                await self._announce_exhausted(record, today, spent, request_id)

    async def status(self, project_id: str) -> BudgetStatus | None:
        """Return the project's budget today, with what running requests reserve; None for an unknown project."""
        row = await self._pool.fetchrow(
            "SELECT timezone, budget_alert_threshold, (now() AT TIME ZONE timezone)::date AS today "
            "FROM accounting.projects WHERE id = $1",
            project_id,
        )
        if row is None:
            return None
        records = await self._records([project_id], include_uncapped=True)
        record = records[0] if records else BudgetRecord(project_id=project_id, updated_at=datetime.now(UTC))
        today: date = row["today"]
        ledger = await self._ledger_record(project_id, today)

        project = _state(record.cap_usd, record.days.get(today), ledger.reserved_usd)
        keys = [
            KeyBudgetStatus(
                key_id=key_id,
                **_state(key.cap_usd, key.days.get(today), ledger.keys.get(key_id, _ZERO)).model_dump(),
            )
            for key_id, key in sorted(record.keys.items())
        ]
        return BudgetStatus(
            project_id=project_id,
            timezone=row["timezone"],
            day=today,
            resets_at=resets_at(row["timezone"], today),
            budget_alert_threshold=row["budget_alert_threshold"],
            project=project,
            keys=keys,
        )

    async def _records(self, ids: list[str], *, include_uncapped: bool = False) -> list[BudgetRecord]:
        async with self._pool.acquire() as connection, connection.transaction(readonly=True):
            projects = await connection.fetch(_CAPPED_PROJECTS, ids, include_uncapped)
            if not projects:
                return []
            capped_ids = [row["id"] for row in projects]
            keys = await connection.fetch(_CAPPED_KEYS, capped_ids)
            project_days = await connection.fetch(_PROJECT_DAYS, capped_ids)
            key_days = await connection.fetch(_KEY_DAYS, [row["id"] for row in keys]) if keys else []

        days_by_project: dict[str, dict[date, DaySpend]] = {}
        for row in project_days:
            days_by_project.setdefault(row["project_id"], {})[row["day"]] = _day(row)
        days_by_key: dict[str, dict[date, DaySpend]] = {}
        for row in key_days:
            days_by_key.setdefault(row["key_id"], {})[row["day"]] = _day(row)
        keys_by_project: dict[str, dict[str, KeyBudget]] = {}
        for row in keys:
            budget = KeyBudget(cap_usd=row["daily_budget_usd"], days=days_by_key.get(row["id"], {}))
            keys_by_project.setdefault(row["project_id"], {})[row["id"]] = budget

        now = datetime.now(UTC)
        records = []
        for row in projects:
            self._thresholds[row["id"]] = (row["budget_alert_threshold"], row["today"])
            records.append(
                BudgetRecord(
                    project_id=row["id"],
                    timezone=row["timezone"],
                    cap_usd=row["daily_budget_usd"],
                    days=days_by_project.get(row["id"], {}),
                    keys=keys_by_project.get(row["id"], {}),
                    updated_at=now,
                )
            )
        return records

    async def _alert(
        self, record: BudgetRecord, threshold: Decimal, day: date, spent: Decimal, request_id: str | None
    ) -> None:
        assert record.cap_usd is not None
        async with self._pool.acquire() as connection, connection.transaction():
            inserted = await connection.fetchval(
                """
                INSERT INTO accounting.budget_alerts (project_id, day, threshold, cap_usd, spent_usd)
                VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, day) DO NOTHING RETURNING true
                """,
                record.project_id,
                day,
                threshold,
                record.cap_usd,
                spent,
            )
            if not inserted:
                return
            event = BudgetThresholdEvent(
                project_id=record.project_id,
                day=day,
                timezone=record.timezone,
                threshold=threshold,
                cap_usd=record.cap_usd,
                spent_usd=spent,
                crossed_at=datetime.now(UTC),
            )
            await self._js.publish(
                bus.BUDGET_EVENT_SUBJECT,
                event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": event_id("budget-threshold", f"{record.project_id}:{day.isoformat()}")},
            )
            crossed = build_event(
                BudgetThresholdCrossed,
                event_id=f"budget.threshold_crossed:{record.project_id}:{day.isoformat()}",
                project_id=record.project_id,
                request_id=request_id,
                occurred_at=event.crossed_at,
                day=day,
                timezone=record.timezone,
                threshold=threshold,
                cap_usd=record.cap_usd,
                spent_usd=spent,
            )
            await publish_event(self._js, crossed)
        logger.info("Project %s crossed %s of its daily budget on %s", record.project_id, threshold, day)

    async def _announce_exhausted(
        self, record: BudgetRecord, day: date, spent: Decimal, request_id: str | None
    ) -> None:
        assert record.cap_usd is not None
        event = build_event(
            BudgetExhausted,
            event_id=exhausted_event_id(record.project_id, day),
            project_id=record.project_id,
            request_id=request_id,
            day=day,
            timezone=record.timezone,
            cap_usd=record.cap_usd,
            spent_usd=spent,
            resets_at=resets_at(record.timezone, day),
        )
        published = await announce_exhausted(self._js, self._ledger, event)
        self._exhausted.add((record.project_id, day))
        if published:
            logger.info("Project %s spent its daily budget of %s on %s", record.project_id, record.cap_usd, day)

    async def _ledger_record(self, project_id: str, day: date) -> LedgerRecord:
        try:
            entry = await self._ledger.get(ledger_key(project_id, day))
        except KeyNotFoundError:
            return LedgerRecord()
        return LedgerRecord.model_validate_json(entry.value) if entry.value else LedgerRecord()

    async def _delete(self, key: str) -> None:
        try:
            await self._budgets.delete(key)
        except KeyNotFoundError:
            pass


def _day(row: asyncpg.Record) -> DaySpend:
    return DaySpend(spent_usd=row["spent"], settled_reserved_usd=row["settled"])


def _state(cap: Decimal | None, day: DaySpend | None, reserved: Decimal) -> BudgetState:
    current = standing(cap if cap is not None else _ZERO, day, reserved)
    return BudgetState(
        cap_usd=cap,
        spent_usd=current.spent,
        reserved_usd=current.in_flight,
        # Clamped at 0 as in the edge's 402: reservations can take a project past its cap.
        remaining_usd=max(current.remaining, _ZERO) if cap is not None else None,
    )


async def _bucket_keys(bucket: KeyValue) -> list[str]:
    try:
        return await bucket.keys()
    except NoKeysError:
        return []
