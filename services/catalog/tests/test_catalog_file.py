"""The catalog file shipped with the service: complete, sourced and loadable."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from gateway_catalog.loader import CatalogFileError, load_entries
from gateway_contracts import CatalogEntry

# The providers of the router's registry that the file covers; models of
# other providers would never be routed.
HOSTED = {"openai", "anthropic", "google", "deepseek", "mistral", "xai", "openrouter", "qwen"}
SELF_HOSTED = {"vllm", "ollama"}


@pytest.fixture(scope="module")
def entries() -> list[CatalogEntry]:
    return load_entries(None)


def test_every_provider_has_models(entries: list[CatalogEntry]) -> None:
    counts = Counter(entry.provider for entry in entries)

    assert set(counts) == HOSTED | SELF_HOSTED
    assert sum(counts[provider] for provider in SELF_HOSTED) >= 3


def test_model_ids_are_provider_slash_model(entries: list[CatalogEntry]) -> None:
    for entry in entries:
        assert entry.id.startswith(f"{entry.provider}/"), entry.id


def test_every_price_names_its_source(entries: list[CatalogEntry]) -> None:
    for entry in entries:
        for price in entry.prices:
            charged = [value for value in (price.input, price.output, price.cached_input) if value]
            if charged:
                assert price.source is not None, entry.id
                assert price.source.startswith("https://"), entry.id


def test_self_hosted_models_cost_nothing(entries: list[CatalogEntry]) -> None:
    for entry in entries:
        if entry.provider in SELF_HOSTED:
            assert [(price.input, price.output) for price in entry.prices] == [(0, 0)], entry.id


def test_reasoning_models_describe_their_style(entries: list[CatalogEntry]) -> None:
    reasoning = [entry for entry in entries if "reasoning" in entry.capabilities]

    assert reasoning
    assert all(entry.reasoning is not None for entry in reasoning)


def test_duplicate_model_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    model = '[[models]]\nid = "a/b"\nprovider = "a"\nupstream_name = "b"\n'
    path.write_text(model + model)

    with pytest.raises(CatalogFileError, match="appears twice"):
        load_entries(path)


def test_invalid_model_names_its_id(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text('[[models]]\nid = "a/b"\nprovider = "a"\nupstream_name = "b"\nbase_url = "ftp://x"\n')

    with pytest.raises(CatalogFileError, match="Model a/b in"):
        load_entries(path)
