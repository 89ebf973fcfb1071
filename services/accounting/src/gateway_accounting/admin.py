"""Administration of projects and API keys, called by the edge's admin endpoints."""

from __future__ import annotations

import logging
import zoneinfo

import asyncpg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from gateway_accounting import credentials
from gateway_accounting.announcements import announce_budget_changed, announce_key_created, announce_key_revoked
from gateway_accounting.budgets import BudgetPublisher
from gateway_contracts import BudgetRecord, ErrorCode
from gateway_contracts.rpc import (
    BudgetStatus,
    KeyCreate,
    KeyCreated,
    KeyInfo,
    KeyList,
    KeyRef,
    KeyUpdate,
    Project,
    ProjectCreate,
    ProjectList,
    ProjectListRequest,
    ProjectRef,
    ProjectUpdate,
    RpcError,
)
from gateway_contracts.rpc_nats import RpcRejected

logger = logging.getLogger("gateway_accounting.admin")

_PROJECT_COLUMNS = "id, name, timezone, daily_budget_usd, budget_alert_threshold, disabled, created_at"
# Project fields whose change alters the budget record that the edges read.
_BUDGET_FIELDS = frozenset({"daily_budget_usd", "timezone", "budget_alert_threshold"})
_KEY_COLUMNS = "id, project_id, name, secret_prefix AS prefix, daily_budget_usd, created_at, revoked_at"


def _rejected(code: ErrorCode, message: str, param: str | None = None) -> RpcRejected:
    return RpcRejected(RpcError(code=code, message=message, param=param))


async def _check_timezone(pool: asyncpg.Pool, name: str) -> None:
    """Accept a zone only if both Python and PostgreSQL know it.

    The edge computes budget days with Python's zoneinfo and accounting with
    PostgreSQL's `AT TIME ZONE`; their lists differ (Python accepts
    `localtime`, PostgreSQL does not), and a zone one of them rejects would
    stop every later usage batch.
    """
    try:
        zoneinfo.ZoneInfo(name)
        known = await pool.fetchval("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)", name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, asyncpg.DataError):
        known = False
    if not known:
        raise _rejected(
            "invalid_request",
            f"Unknown time zone `{name}`; use an IANA name such as `UTC` or `Europe/Berlin`.",
            param="timezone",
        )


class Admin:
    def __init__(
        self, pool: asyncpg.Pool, auth_bucket: KeyValue, budgets: BudgetPublisher, js: JetStreamContext
    ) -> None:
        self._pool = pool
        self._bucket = auth_bucket
        self._budgets = budgets
        self._js = js

    async def create_project(self, request: ProjectCreate) -> Project:
        await _check_timezone(self._pool, request.timezone)
        try:
            row = await self._pool.fetchrow(
                f"""
                INSERT INTO accounting.projects (id, name, timezone, daily_budget_usd, budget_alert_threshold)
                VALUES ($1, $2, $3, $4, $5) RETURNING {_PROJECT_COLUMNS}
                """,
                credentials.new_id("proj"),
                request.name,
                request.timezone,
                request.daily_budget_usd,
                request.budget_alert_threshold,
            )
        except asyncpg.UniqueViolationError:
            raise _rejected("conflict", f"A project named `{request.name}` already exists.", param="name") from None
        project = Project.model_validate(dict(row))
        if request.daily_budget_usd is not None:
            records = await self._budgets.publish([row["id"]])
            await announce_budget_changed(self._js, project)
            await self._check_thresholds(records)
        logger.info("Created project %s", row["id"])
        return project

    async def list_projects(self, request: ProjectListRequest) -> ProjectList:
        rows = await self._pool.fetch(f"SELECT {_PROJECT_COLUMNS} FROM accounting.projects ORDER BY created_at, id")
        return ProjectList(data=[Project.model_validate(dict(row)) for row in rows])

    async def get_project(self, request: ProjectRef) -> Project:
        row = await self._pool.fetchrow(
            f"SELECT {_PROJECT_COLUMNS} FROM accounting.projects WHERE id = $1", request.project_id
        )
        if row is None:
            raise _project_not_found(request.project_id)
        return Project.model_validate(dict(row))

    async def update_project(self, request: ProjectUpdate) -> Project:
        changes = request.model_dump(exclude_unset=True, exclude={"project_id"})
        if "timezone" in changes:
            if changes["timezone"] is None:
                raise _rejected(
                    "invalid_request", "`timezone` cannot be null; use `UTC` for the default.", param="timezone"
                )
            await _check_timezone(self._pool, changes["timezone"])
        for field in ("name", "disabled", "budget_alert_threshold"):
            if field in changes and changes[field] is None:
                raise _rejected("invalid_request", f"`{field}` cannot be null.", param=field)
        if not changes:
            return await self.get_project(ProjectRef(project_id=request.project_id))

        assignments = ", ".join(f"{column} = ${index}" for index, column in enumerate(changes, start=2))
        try:
            row = await self._pool.fetchrow(
                f"UPDATE accounting.projects SET {assignments} WHERE id = $1 RETURNING {_PROJECT_COLUMNS}",
                request.project_id,
                *changes.values(),
            )
        except asyncpg.UniqueViolationError:
            raise _rejected(
                "conflict", f"A project named `{changes.get('name')}` already exists.", param="name"
            ) from None
        if row is None:
            raise _project_not_found(request.project_id)
        if "disabled" in changes:
            # Keys of a disabled project leave the auth bucket, and come back when it is enabled.
            await credentials.sync_bucket(self._pool, self._bucket)
        project = Project.model_validate(dict(row))
        if _BUDGET_FIELDS & changes.keys():
            records = await self._budgets.publish([request.project_id], remove_uncapped=True)
            await announce_budget_changed(self._js, project)
            # A cap at or below today's spend announces its threshold and exhaustion now.
            await self._check_thresholds(records)
        logger.info("Updated project %s: %s", request.project_id, ", ".join(changes))
        return project

    async def _check_thresholds(self, records: list[BudgetRecord]) -> None:
        # The change is committed; a failed budget event is logged, as a failed batch check is.
        try:
            await self._budgets.check_thresholds(records, {})
        except Exception:
            ids = ", ".join(record.project_id for record in records)
            logger.error("Checking the budget thresholds of project %s after a change failed", ids, exc_info=True)

    async def create_key(self, request: KeyCreate) -> KeyCreated:
        async with self._pool.acquire() as connection, connection.transaction():
            project = await connection.fetchrow(
                "SELECT disabled FROM accounting.projects WHERE id = $1 FOR SHARE", request.project_id
            )
            if project is None:
                raise _project_not_found(request.project_id)
            issued = await credentials.issue(
                connection, "api_key", request.project_id, request.name, request.daily_budget_usd
            )
            row = await connection.fetchrow(
                f"SELECT {_KEY_COLUMNS} FROM accounting.credentials WHERE id = $1", issued.id
            )
        if request.daily_budget_usd is not None:
            # Before the credential, so that the key's first request already meets its cap.
            await self._budgets.publish([request.project_id])
        if not project["disabled"]:
            await credentials.publish(self._bucket, credentials.secret_digest(issued.secret), issued.record)
        await announce_key_created(self._js, KeyInfo.model_validate(dict(row)))
        logger.info("Created key %s in project %s", issued.id, request.project_id)
        return KeyCreated(**dict(row), key=issued.secret)

    async def list_keys(self, request: ProjectRef) -> KeyList:
        await self.get_project(request)
        rows = await self._pool.fetch(
            f"""
            SELECT {_KEY_COLUMNS} FROM accounting.credentials
            WHERE project_id = $1 AND kind = 'api_key' ORDER BY created_at, id
            """,
            request.project_id,
        )
        return KeyList(data=[KeyInfo.model_validate(dict(row)) for row in rows])

    async def revoke_key(self, request: KeyRef) -> KeyInfo:
        """Mark the key revoked and remove it from the auth bucket; revoking twice is not an error."""
        row = await self._pool.fetchrow(
            f"""
            UPDATE accounting.credentials SET revoked_at = coalesce(revoked_at, now())
            WHERE id = $1 AND project_id = $2 AND kind = 'api_key'
            RETURNING {_KEY_COLUMNS}, secret_sha256
            """,
            request.key_id,
            request.project_id,
        )
        if row is None:
            raise _key_not_found(request.project_id, request.key_id)
        await self._bucket.delete(row["secret_sha256"])
        if row["daily_budget_usd"] is not None:
            await self._budgets.publish([request.project_id], remove_uncapped=True)
        logger.info("Revoked key %s of project %s", request.key_id, request.project_id)
        fields = dict(row)
        fields.pop("secret_sha256")
        key = KeyInfo.model_validate(fields)
        await announce_key_revoked(self._js, key)
        return key

    async def update_key(self, request: KeyUpdate) -> KeyInfo:
        """Rename a key or change its cap; `daily_budget_usd: null` removes the cap."""
        changes = request.model_dump(exclude_unset=True, exclude={"project_id", "key_id"})
        if not changes:
            return await self._key(request.project_id, request.key_id)
        assignments = ", ".join(f"{column} = ${index}" for index, column in enumerate(changes, start=3))
        row = await self._pool.fetchrow(
            f"""
            UPDATE accounting.credentials SET {assignments}
            WHERE id = $1 AND project_id = $2 AND kind = 'api_key'
            RETURNING {_KEY_COLUMNS}
            """,
            request.key_id,
            request.project_id,
            *changes.values(),
        )
        if row is None:
            raise _key_not_found(request.project_id, request.key_id)
        if "daily_budget_usd" in changes:
            await self._budgets.publish([request.project_id], remove_uncapped=True)
        logger.info("Updated key %s of project %s: %s", request.key_id, request.project_id, ", ".join(changes))
        return KeyInfo.model_validate(dict(row))

    async def budget_status(self, request: ProjectRef) -> BudgetStatus:
        status = await self._budgets.status(request.project_id)
        if status is None:
            raise _project_not_found(request.project_id)
        return status

    async def _key(self, project_id: str, key_id: str) -> KeyInfo:
        row = await self._pool.fetchrow(
            f"SELECT {_KEY_COLUMNS} FROM accounting.credentials WHERE id = $1 AND project_id = $2 AND kind = 'api_key'",
            key_id,
            project_id,
        )
        if row is None:
            raise _key_not_found(project_id, key_id)
        return KeyInfo.model_validate(dict(row))


def _project_not_found(project_id: str) -> RpcRejected:
    return _rejected("not_found", f"No project with id `{project_id}`.")


def _key_not_found(project_id: str, key_id: str) -> RpcRejected:
    return _rejected("not_found", f"No key `{key_id}` in project `{project_id}`.")
