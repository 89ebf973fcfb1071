"""Edge configuration, read from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias="NATS_URL")
    # Copies kept of each JetStream stream and KV bucket this service creates, 1 on one server and 3 in a cluster.
    nats_replicas: int = Field(default=1, ge=1, le=5, validation_alias="GATEWAY_NATS_REPLICAS")
    host: str = Field(default="127.0.0.1", validation_alias="GATEWAY_HTTP_HOST")
    port: int = Field(default=8080, ge=0, le=65535, validation_alias="GATEWAY_HTTP_PORT")
    # Request bodies larger than this are rejected with 413 before they are read whole.
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, validation_alias="GATEWAY_MAX_BODY_BYTES")
    # Seconds without any frame from the router (chunks or heartbeats) before a request fails.
    router_idle_timeout_seconds: float = Field(default=30.0, gt=0, validation_alias="GATEWAY_ROUTER_IDLE_TIMEOUT")
    # Bytes of a stream that may wait for a slow client before the request is cancelled.
    max_buffered_bytes: int = Field(default=32 * 1024 * 1024, ge=1024, validation_alias="GATEWAY_MAX_BUFFERED_BYTES")
    # Seconds to wait for the sessions and accounting services to answer a call.
    service_timeout_seconds: float = Field(default=5.0, gt=0, validation_alias="GATEWAY_SERVICE_TIMEOUT")
    # Whether `GET /metrics` is served on the API port too. Turn it off where that port is public and
    # Prometheus scrapes the metrics port (`GATEWAY_METRICS_PORT`) instead.
    http_metrics: bool = Field(default=True, validation_alias="GATEWAY_HTTP_METRICS")
    # Whether metrics carry the project id as a label; off, the project label is empty.
    metrics_project_labels: bool = Field(default=True, validation_alias="GATEWAY_METRICS_PROJECT_LABELS")
    # Whether request bodies are logged at DEBUG; never on by default, because they are the users' content.
    log_content: bool = Field(default=False, validation_alias="GATEWAY_LOG_CONTENT")
    # Seconds that shutdown waits for in-flight streams to finish.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0, validation_alias="GATEWAY_SHUTDOWN_GRACE_SECONDS")
