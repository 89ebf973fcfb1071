"""API keys and admin tokens: creation, storage as hashes, and publication to the edge.

A secret is shown once, when it is created. PostgreSQL keeps its SHA-256,
which is enough for high-entropy random secrets, and the auth KV bucket maps
the same digest to the credential, so the edge authenticates without a
database read and a revoked credential disappears from every edge at once.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal

import asyncpg
from nats.js.errors import NoKeysError
from nats.js.kv import KeyValue

from gateway_contracts import CredentialRecord
from gateway_contracts.records import CredentialKind

logger = logging.getLogger("gateway_accounting.credentials")

# Longest first, so that `secret_prefix` matches `gwadmin-` before `gw-`.
_SECRET_PREFIXES: dict[str, str] = {"admin_token": "gwadmin-", "api_key": "gw-"}


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    id: str
    secret: str
    record: CredentialRecord


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_prefix(secret: str) -> str:
    """The scheme prefix and eight characters: enough to tell keys apart, far too few to guess one."""
    scheme = next(prefix for prefix in _SECRET_PREFIXES.values() if secret.startswith(prefix))
    return secret[: len(scheme) + 8]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


async def create_project(connection: asyncpg.Connection, name: str) -> str:
    project_id = new_id("proj")
    await connection.execute("INSERT INTO accounting.projects (id, name) VALUES ($1, $2)", project_id, name)
    return project_id


async def issue(
    connection: asyncpg.Connection,
    kind: CredentialKind,
    project_id: str | None,
    name: str | None,
    daily_budget_usd: Decimal | None = None,
) -> IssuedCredential:
    """Create a credential and store its digest; the caller publishes it once committed."""
    secret = _SECRET_PREFIXES[kind] + secrets.token_urlsafe(32)
    credential_id = new_id("key" if kind == "api_key" else "adm")
    await connection.execute(
        """
        INSERT INTO accounting.credentials
            (id, kind, project_id, name, secret_sha256, secret_prefix, daily_budget_usd)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        credential_id,
        kind,
        project_id,
        name,
        secret_digest(secret),
        secret_prefix(secret),
        daily_budget_usd,
    )
    record = CredentialRecord(kind=kind, key_id=credential_id, project_id=project_id, name=name)
    return IssuedCredential(id=credential_id, secret=secret, record=record)


async def publish(bucket: KeyValue, digest: str, record: CredentialRecord) -> None:
    await bucket.put(digest, record.model_dump_json().encode())


async def sync_bucket(pool: asyncpg.Pool, bucket: KeyValue) -> None:
    """Make the auth bucket hold exactly the live credentials in PostgreSQL.

    Run at start, so that a credential revoked while NATS was unreachable, or
    a bucket lost with its NATS server, is corrected.
    """
    rows = await pool.fetch(
        """
        SELECT c.id, c.kind, c.project_id, c.name, c.secret_sha256
        FROM accounting.credentials c
        LEFT JOIN accounting.projects p ON p.id = c.project_id
        WHERE c.revoked_at IS NULL AND (p.id IS NULL OR NOT p.disabled)
        """
    )
    live = {row["secret_sha256"]: row for row in rows}
    for digest, row in live.items():
        record = CredentialRecord(kind=row["kind"], key_id=row["id"], project_id=row["project_id"], name=row["name"])
        await publish(bucket, digest, record)

    stale = 0
    for key in await _bucket_keys(bucket):
        if key not in live:
            await bucket.delete(key)
            stale += 1
    logger.info("Published %d live credentials to the auth bucket; removed %d stale ones", len(live), stale)


async def _bucket_keys(bucket: KeyValue) -> list[str]:
    try:
        return await bucket.keys()
    except NoKeysError:
        return []
