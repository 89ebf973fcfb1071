"""Catalog configuration, read from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CatalogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias="NATS_URL")
    database_url: str = Field(default="postgresql://postgres@127.0.0.1:5432/postgres", validation_alias="DATABASE_URL")
    # A catalog file to load instead of the one shipped with the service.
    catalog_file: Path | None = Field(default=None, validation_alias="GATEWAY_CATALOG_FILE")
