"""Accounting configuration, read from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AccountingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias="NATS_URL")
    # Copies kept of each JetStream stream and KV bucket this service creates, 1 on one server and 3 in a cluster.
    nats_replicas: int = Field(default=1, ge=1, le=5, validation_alias="GATEWAY_NATS_REPLICAS")
    database_url: str = Field(default="postgresql://postgres@127.0.0.1:5432/postgres", validation_alias="DATABASE_URL")
    # Apply the PostgreSQL schema at start. Production sets it to false and runs `gateway migrate` as a Job.
    migrate_on_start: bool = Field(default=True, validation_alias="GATEWAY_MIGRATE_ON_START")
    # A ClickHouse server over HTTP, for example `http://user:password@clickhouse:8123/gateway`.
    # Unset, accounting runs ClickHouse's engine with chdb, in a child process (`chdb_worker`).
    clickhouse_url: str | None = Field(default=None, validation_alias="CLICKHOUSE_URL")
    data_dir: Path = Field(default=Path(".gateway"), validation_alias="GATEWAY_DATA_DIR")
    # Usage events written to ClickHouse and PostgreSQL in one batch, at most.
    batch_max_events: int = Field(default=5000, ge=1, validation_alias="GATEWAY_ACCOUNTING_BATCH_MAX")
    # Seconds a batch waits for more events after its first one arrived.
    batch_max_wait_seconds: float = Field(default=0.2, gt=0, validation_alias="GATEWAY_ACCOUNTING_BATCH_WAIT")
    # Whether the token and cost counters carry the project id as a label; off, the project label is empty.
    metrics_project_labels: bool = Field(default=True, validation_alias="GATEWAY_METRICS_PROJECT_LABELS")
    shutdown_grace_seconds: float = Field(default=30.0, ge=0, validation_alias="GATEWAY_SHUTDOWN_GRACE_SECONDS")

    @property
    def chdb_path(self) -> Path:
        return self.data_dir / "clickhouse"
