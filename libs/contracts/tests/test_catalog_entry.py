"""What a catalog entry accepts: ids, custom model URLs and key variables, prices."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from gateway_contracts import CatalogEntry, ModelAlias

BASE = {"id": "acme/llama", "provider": "acme", "upstream_name": "llama"}


def entry(**fields: Any) -> CatalogEntry:
    return CatalogEntry.model_validate(BASE | fields)


def test_custom_model_keeps_its_url_without_trailing_slash() -> None:
    custom = entry(base_url="http://10.0.0.5:8000/v1/", api_key_env="GATEWAY_MODEL_KEY_ACME")

    assert custom.base_url == "http://10.0.0.5:8000/v1"
    assert custom.api_key_env == "GATEWAY_MODEL_KEY_ACME"


@pytest.mark.parametrize(
    "fields",
    [
        {"base_url": "ftp://models.internal/v1"},
        {"base_url": "file:///etc/passwd"},
        {"base_url": "https://"},
        {"base_url": "https://user:pw@models.internal/v1"},
        {"base_url": "https://models.internal/v1?key=1"},
        {"base_url": "https://models.internal/v1", "api_key_env": "OPENAI_API_KEY"},
        {"base_url": "https://models.internal/v1", "api_key_env": "GATEWAY_MODEL_KEY_lower"},
        {"api_key_env": "GATEWAY_MODEL_KEY_ACME"},
        {"id": "other/llama"},
        {"id": "acme"},
        {"id": "acme/with space"},
        {"provider": "Acme", "id": "Acme/llama"},
        {"capabilities": ["text", "reasoning"]},
        {"reasoning": {"style": "always_on"}},
        {"prices": [{"effective_from": "2025-01-01", "input": "-0.1"}]},
        {"prices": [{"effective_from": "2025-01-01"}, {"effective_from": "2025-01-01"}]},
    ],
)
def test_invalid_entry_is_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        entry(**fields)


def test_model_id_may_contain_slashes_and_colons() -> None:
    assert entry(id="acme/meta-llama/Llama-3.3-70B:fp8").id == "acme/meta-llama/Llama-3.3-70B:fp8"


def test_zero_prices_are_allowed() -> None:
    price = entry(prices=[{"effective_from": "2025-01-01", "input": "0", "output": "0"}]).price_at(date(2025, 6, 1))

    assert price is not None
    assert price.input == 0


@pytest.mark.parametrize("alias", ["fast", "cheap.v2", "A-1"])
def test_alias_names(alias: str) -> None:
    assert ModelAlias(alias=alias, model="acme/llama", updated_at="2025-01-01T00:00:00Z").alias == alias


@pytest.mark.parametrize("alias", ["acme/llama", "bad:name", "", "-leading"])
def test_alias_name_without_slash_or_colon(alias: str) -> None:
    with pytest.raises(ValidationError):
        ModelAlias(alias=alias, model="acme/llama", updated_at="2025-01-01T00:00:00Z")
