"""Bearer authentication against the mirrored auth bucket."""

from __future__ import annotations

import hashlib

import pytest

from gateway_contracts import CredentialRecord
from gateway_contracts.kv import BucketMirror
from gateway_edge.auth import Authenticator
from gateway_edge.errors import EdgeError

API_KEY = "gw-secret-one"
ADMIN_TOKEN = "gwadmin-secret-two"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@pytest.fixture
def auth() -> Authenticator:
    mirror: BucketMirror[CredentialRecord] = BucketMirror(bucket=None, model=CredentialRecord)  # type: ignore[arg-type]  # never started
    mirror.records[digest(API_KEY)] = CredentialRecord(kind="api_key", key_id="key_1", project_id="proj_1")
    mirror.records[digest(ADMIN_TOKEN)] = CredentialRecord(kind="admin_token", key_id="adm_1")
    authenticator = Authenticator()
    authenticator.attach(mirror)
    return authenticator


def code_of(call) -> str:
    with pytest.raises(EdgeError) as caught:
        call()
    assert caught.value.status == 401
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}
    return caught.value.code


def test_api_key_authenticates(auth: Authenticator) -> None:
    record = auth.api_key(f"Bearer {API_KEY}")

    assert record.key_id == "key_1"
    assert record.project_id == "proj_1"


def test_scheme_is_case_insensitive(auth: Authenticator) -> None:
    assert auth.api_key(f"bearer {API_KEY}").key_id == "key_1"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_api_key"),
        ("", "missing_api_key"),
        (f"Basic {API_KEY}", "invalid_api_key"),
        ("Bearer gw-unknown", "invalid_api_key"),
        (f"Bearer {API_KEY}x", "invalid_api_key"),
        (f"Bearer {ADMIN_TOKEN}", "invalid_api_key"),
    ],
)
def test_rejected_api_keys(auth: Authenticator, header: str | None, code: str) -> None:
    assert code_of(lambda: auth.api_key(header)) == code


def test_admin_token_authenticates_only_admin(auth: Authenticator) -> None:
    assert auth.admin(f"Bearer {ADMIN_TOKEN}").key_id == "adm_1"
    assert code_of(lambda: auth.admin(f"Bearer {API_KEY}")) == "invalid_api_key"


def test_removed_credential_stops_authenticating(auth: Authenticator) -> None:
    mirror = auth._mirror
    assert mirror is not None
    del mirror.records[digest(API_KEY)]
    auth.on_change(digest(API_KEY))

    assert code_of(lambda: auth.api_key(f"Bearer {API_KEY}")) == "invalid_api_key"
