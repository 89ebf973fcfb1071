"""Model lookup in the edge's mirrors of the catalog and alias buckets."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from gateway_contracts import CatalogEntry, ModelAlias, catalog_key
from gateway_contracts.kv import BucketMirror
from gateway_contracts.records import Capability
from gateway_edge.errors import EdgeError


class ModelDirectory:
    """Models by id or alias, read from the mirrors without a network round trip."""

    def __init__(self, models: BucketMirror[CatalogEntry], aliases: BucketMirror[ModelAlias]) -> None:
        self.models = models
        self.aliases = aliases

    def find(self, name: str) -> CatalogEntry | None:
        """Return the entry that `name` names as a model id or as an alias."""
        entry = self.models.get(catalog_key(name))
        if entry is not None:
            return entry
        alias = self.aliases.get(name) if "/" not in name else None
        if alias is None:
            return None
        return self.models.get(catalog_key(alias.model))

    def resolve(self, name: str) -> CatalogEntry:
        """Return the entry that `name` names, or raise a 404 that points at `GET /v1/models`."""
        entry = self.find(name)
        if entry is not None:
            return entry
        raise EdgeError(
            "model_not_found",
            f"The model `{name}` does not exist. `GET /v1/models` lists the models you can use.",
            param="model",
        )

    def entries(self) -> list[CatalogEntry]:
        return sorted(self.models.records.values(), key=lambda entry: entry.id)

    def live_aliases(self) -> Iterator[tuple[ModelAlias, CatalogEntry]]:
        """Aliases whose model is in the catalog, sorted by name."""
        for alias in sorted(self.aliases.records.values(), key=lambda record: record.alias):
            entry = self.models.get(catalog_key(alias.model))
            if entry is not None:
                yield alias, entry

    def with_capabilities(self, capabilities: Iterable[Capability], prefer_provider: str | None = None) -> list[str]:
        """Ids of the models that have every capability in `capabilities`, `prefer_provider`'s first."""
        wanted = set(capabilities)
        found = [entry for entry in self.entries() if wanted.issubset(entry.capabilities)]
        found.sort(key=lambda entry: (entry.provider != prefer_provider, entry.id))
        return [entry.id for entry in found]
