"""Model lookup by id and by alias."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway_contracts import CatalogEntry, ModelAlias, catalog_key
from gateway_contracts.kv import BucketMirror
from gateway_edge.catalog import ModelDirectory
from gateway_edge.errors import EdgeError


@pytest.fixture
def directory() -> ModelDirectory:
    models: BucketMirror[CatalogEntry] = BucketMirror(bucket=None, model=CatalogEntry)  # type: ignore[arg-type]  # never started
    aliases: BucketMirror[ModelAlias] = BucketMirror(bucket=None, model=ModelAlias)  # type: ignore[arg-type]  # never started
    for model_id in ("ollama/llama3:8b", "openai/gpt-4o-mini"):
        models.records[catalog_key(model_id)] = CatalogEntry(
            id=model_id, provider=model_id.split("/")[0], upstream_name="u"
        )
    now = datetime.now(UTC)
    aliases.records["fast"] = ModelAlias(alias="fast", model="openai/gpt-4o-mini", updated_at=now)
    aliases.records["dangling"] = ModelAlias(alias="dangling", model="openai/retired", updated_at=now)
    return ModelDirectory(models, aliases)


def test_model_found_by_id_with_unsafe_characters(directory: ModelDirectory) -> None:
    assert directory.resolve("ollama/llama3:8b").id == "ollama/llama3:8b"


def test_alias_resolves_to_its_model(directory: ModelDirectory) -> None:
    assert directory.resolve("fast").id == "openai/gpt-4o-mini"


def test_alias_of_missing_model_is_404(directory: ModelDirectory) -> None:
    with pytest.raises(EdgeError) as caught:
        directory.resolve("dangling")

    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"


def test_live_aliases_skip_missing_models(directory: ModelDirectory) -> None:
    assert [(alias.alias, entry.id) for alias, entry in directory.live_aliases()] == [("fast", "openai/gpt-4o-mini")]
