"""Bearer authentication against the auth KV bucket that accounting publishes.

The bucket maps the SHA-256 of each live secret to its credential, so a
lookup needs no database read and a revoked key stops working as soon as its
deletion reaches the mirror.
"""

from __future__ import annotations

import hashlib
import hmac

from gateway_contracts import CredentialRecord
from gateway_contracts.kv import BucketMirror
from gateway_edge.errors import EdgeError

_BEARER = "bearer "
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
# Hex digits of the digest used to find candidates; the full digest is then
# compared in constant time, so lookup timing reveals at most this prefix of
# a hash, never anything of the secret.
_INDEX_PREFIX = 16


class Authenticator:
    def __init__(self) -> None:
        self._index: dict[str, dict[str, CredentialRecord]] = {}
        self._mirror: BucketMirror[CredentialRecord] | None = None

    def attach(self, mirror: BucketMirror[CredentialRecord]) -> None:
        self._mirror = mirror
        for digest in list(mirror.records):
            self.on_change(digest)

    def on_change(self, digest: str) -> None:
        """Keep the prefix index in step with the mirror after it changed `digest`."""
        record = self._mirror.get(digest) if self._mirror else None
        bucket = self._index.setdefault(digest[:_INDEX_PREFIX], {})
        if record is None:
            bucket.pop(digest, None)
            if not bucket:
                del self._index[digest[:_INDEX_PREFIX]]
            return
        bucket[digest] = record

    def api_key(self, authorization: str | None) -> CredentialRecord:
        """Return the project credential of an `Authorization: Bearer` header, or raise 401."""
        record = self._lookup(authorization)
        if record.kind != "api_key" or record.project_id is None:
            raise EdgeError(
                "invalid_api_key", "This endpoint needs a project API key, not an admin token.", headers=_CHALLENGE
            )
        return record

    def admin(self, authorization: str | None) -> CredentialRecord:
        """Return the admin credential of an `Authorization: Bearer` header, or raise 401."""
        record = self._lookup(authorization)
        if record.kind != "admin_token":
            raise EdgeError("invalid_api_key", "This endpoint needs an admin token.", headers=_CHALLENGE)
        return record

    def _lookup(self, authorization: str | None) -> CredentialRecord:
        if not authorization:
            raise EdgeError(
                "missing_api_key",
                "Missing API key: send it as `Authorization: Bearer <key>`.",
                headers=_CHALLENGE,
            )
        if authorization[: len(_BEARER)].lower() != _BEARER:
            raise EdgeError(
                "invalid_api_key",
                "The `Authorization` header must use the Bearer scheme: `Authorization: Bearer <key>`.",
                headers=_CHALLENGE,
            )

        secret = authorization[len(_BEARER) :].strip()
        digest = hashlib.sha256(secret.encode()).hexdigest()
        found: CredentialRecord | None = None
        for candidate, record in self._index.get(digest[:_INDEX_PREFIX], {}).items():
            if hmac.compare_digest(candidate, digest):
                found = record
        if found is None:
            raise EdgeError(
                "invalid_api_key",
                "Invalid API key: it is unknown or revoked, or its project is disabled.",
                headers=_CHALLENGE,
            )
        return found
