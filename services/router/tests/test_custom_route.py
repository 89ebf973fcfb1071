"""How the router reaches a custom model from its catalog entry."""

from __future__ import annotations

from gateway_contracts import CatalogEntry
from gateway_router.providers import custom_route


def custom(**fields: object) -> CatalogEntry:
    return CatalogEntry.model_validate(
        {"id": "vllm/qwen", "provider": "vllm", "upstream_name": "Qwen/Qwen3-8B", "base_url": "http://gpu:8000/v1"}
        | fields
    )


def test_route_uses_entry_url_and_key() -> None:
    route = custom_route(custom(api_key_env="GATEWAY_MODEL_KEY_GPU"), {"GATEWAY_MODEL_KEY_GPU": "secret"})

    assert route.mode == "live"
    assert route.base_url == "http://gpu:8000/v1"
    assert route.api_key == "secret"
    assert route.spec.adapter == "openai"
    assert route.spec.name == "vllm"


def test_route_without_key_sends_none() -> None:
    route = custom_route(custom(), {"VLLM_BASE_URL": "http://elsewhere/v1"})

    assert route.mode == "live"
    assert route.base_url == "http://gpu:8000/v1"
    assert route.api_key is None


def test_route_with_unset_key_is_unconfigured() -> None:
    route = custom_route(custom(api_key_env="GATEWAY_MODEL_KEY_GPU"), {})

    assert route.mode == "unconfigured"
    assert route.spec.credential_env == "GATEWAY_MODEL_KEY_GPU"


def test_auth_advice_names_the_key_variable_or_the_entry() -> None:
    keyed = custom_route(custom(api_key_env="GATEWAY_MODEL_KEY_GPU"), {"GATEWAY_MODEL_KEY_GPU": "secret"})
    keyless = custom_route(custom(), {})

    assert keyed.spec.credential_advice == "`GATEWAY_MODEL_KEY_GPU`"
    assert "custom model `vllm/qwen`" in keyless.spec.credential_advice
    assert "set `api_key_env`" in keyless.spec.credential_advice
