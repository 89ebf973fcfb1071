"""Sessions configuration, read from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SessionsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias="NATS_URL")
    database_url: str = Field(default="postgresql://postgres@127.0.0.1:5432/postgres", validation_alias="DATABASE_URL")
    shutdown_grace_seconds: float = Field(default=30.0, ge=0, validation_alias="GATEWAY_SHUTDOWN_GRACE_SECONDS")
