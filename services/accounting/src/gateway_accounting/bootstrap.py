"""The first project, API key and admin token of a new installation."""

from __future__ import annotations

import logging

import asyncpg
from nats.js.kv import KeyValue

from gateway_accounting import credentials
from gateway_contracts.rpc import BootstrapReply, BootstrapRequest

logger = logging.getLogger("gateway_accounting.bootstrap")


async def bootstrap(pool: asyncpg.Pool, bucket: KeyValue, request: BootstrapRequest) -> BootstrapReply:
    """Create the project, a key and an admin token, unless any admin token exists.

    The secrets are returned only by the call that creates them, so a second
    call, from a restart or from anyone else on the bus, learns nothing.
    """
    async with pool.acquire() as connection, connection.transaction():
        # Serializes concurrent bootstraps: the second one finds the first one's token.
        await connection.execute("LOCK TABLE accounting.credentials IN SHARE ROW EXCLUSIVE MODE")
        existing = await connection.fetchval("SELECT id FROM accounting.projects WHERE name = $1", request.project_name)
        has_admin = await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM accounting.credentials WHERE kind = 'admin_token')"
        )
        if has_admin:
            return BootstrapReply(created=False, project_id=existing or "")

        project_id = existing or await credentials.create_project(connection, request.project_name)
        api_key = await credentials.issue(connection, "api_key", project_id, "dev")
        admin = await credentials.issue(connection, "admin_token", None, "bootstrap")

    for issued in (api_key, admin):
        await credentials.publish(bucket, credentials.secret_digest(issued.secret), issued.record)
    logger.info("Bootstrapped project %s with key %s and admin token %s", project_id, api_key.id, admin.id)
    return BootstrapReply(created=True, project_id=project_id, api_key=api_key.secret, admin_token=admin.secret)
