"""How each provider is reached: live with credentials, emulated locally, unconfigured otherwise."""

from __future__ import annotations

import pytest

from gateway_contracts import CatalogEntry
from gateway_router.dispatch import Dispatcher
from gateway_router.errors import RequestRejected
from gateway_router.providers import resolve_routes


def test_provider_with_key_is_live() -> None:
    route = resolve_routes({"OPENAI_API_KEY": "sk"}, "http://127.0.0.1:9")["openai"]

    assert route.mode == "live"
    assert route.base_url == "https://api.openai.com/v1"
    assert route.api_key == "sk"


def test_provider_without_key_is_emulated_only_with_an_emulator() -> None:
    emulated = resolve_routes({}, "http://127.0.0.1:9/")["deepseek"]
    unconfigured = resolve_routes({}, None)["deepseek"]

    assert emulated.mode == "emulated"
    assert emulated.base_url == "http://127.0.0.1:9/deepseek/v1"
    assert unconfigured.mode == "unconfigured"
    assert unconfigured.base_url is None


def test_keyless_server_is_live_once_its_url_is_set() -> None:
    routes = resolve_routes({"VLLM_BASE_URL": "http://gpu:8000/v1"}, None)

    assert routes["vllm"].mode == "live"
    assert routes["vllm"].api_key is None
    assert routes["ollama"].mode == "unconfigured"


def test_unconfigured_provider_names_the_missing_variable() -> None:
    dispatcher = Dispatcher.__new__(Dispatcher)
    dispatcher._routes = resolve_routes({}, None)
    entry = CatalogEntry(id="openai/gpt-4o-mini", provider="openai", upstream_name="gpt-4o-mini")

    with pytest.raises(RequestRejected) as caught:
        dispatcher._route(entry)

    assert caught.value.code == "provider_not_configured"
    assert caught.value.status == 503
    assert "`OPENAI_API_KEY`" in caught.value.message
