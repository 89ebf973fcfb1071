"""Reading the catalog file into validated entries."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

from pydantic import ValidationError

from gateway_contracts import CatalogEntry


class CatalogFileError(Exception):
    """The catalog file cannot be loaded; the message names the file and the entry."""


def default_catalog_text() -> str:
    return files("gateway_catalog").joinpath("catalog.toml").read_text()


def load_entries(path: Path | None) -> list[CatalogEntry]:
    """Parse and validate the catalog file at `path`, or the one shipped with the service."""
    name = str(path) if path else "the built-in catalog.toml"
    text = path.read_text() if path else default_catalog_text()
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogFileError(f"{name} is not valid TOML: {error}") from error

    entries: list[CatalogEntry] = []
    seen: set[str] = set()
    for position, raw in enumerate(document.get("models", [])):
        try:
            entry = CatalogEntry.model_validate(raw)
        except ValidationError as error:
            label = raw.get("id", f"#{position + 1}") if isinstance(raw, dict) else f"#{position + 1}"
            raise CatalogFileError(f"Model {label} in {name} is invalid: {error}") from error
        if entry.id in seen:
            raise CatalogFileError(f"Model {entry.id} appears twice in {name}; remove one of them.")
        seen.add(entry.id)
        entries.append(entry)
    return entries
