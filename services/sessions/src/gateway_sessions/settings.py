"""Sessions configuration, read from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SessionsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias="NATS_URL")
    # Copies kept of each JetStream stream and KV bucket this service creates, 1 on one server and 3 in a cluster.
    nats_replicas: int = Field(default=1, ge=1, le=5, validation_alias="GATEWAY_NATS_REPLICAS")
    database_url: str = Field(default="postgresql://postgres@127.0.0.1:5432/postgres", validation_alias="DATABASE_URL")
    # Apply the PostgreSQL schema at start. Production sets it to false and runs `gateway migrate` as a Job.
    migrate_on_start: bool = Field(default=True, validation_alias="GATEWAY_MIGRATE_ON_START")
    # Seconds between retention sweeps.
    retention_interval_seconds: float = Field(
        default=3600.0, gt=0, validation_alias="GATEWAY_SESSIONS_RETENTION_INTERVAL"
    )
    # Include each message in the public `session.turn_appended` events. Off by
    # default: subscribers then see the turns of a session without their content.
    event_content: bool = Field(default=False, validation_alias="GATEWAY_SESSIONS_EVENT_CONTENT")
    shutdown_grace_seconds: float = Field(default=30.0, ge=0, validation_alias="GATEWAY_SHUTDOWN_GRACE_SECONDS")
