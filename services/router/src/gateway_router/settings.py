"""Router configuration, read from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RouterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias="NATS_URL")
    # Copies kept of each JetStream stream and KV bucket this service creates, 1 on one server and 3 in a cluster.
    nats_replicas: int = Field(default=1, ge=1, le=5, validation_alias="GATEWAY_NATS_REPLICAS")
    # Set only by the local run: providers without credentials are then served
    # by the emulator at this URL instead of failing with 503.
    emulator_url: str | None = Field(default=None, validation_alias="GATEWAY_EMULATOR_URL")
    # Seconds of upstream silence after which the router tells the edge it is still working.
    heartbeat_seconds: float = Field(default=5.0, gt=0, validation_alias="GATEWAY_ROUTER_HEARTBEAT_SECONDS")
    connect_timeout_seconds: float = Field(default=10.0, gt=0, validation_alias="GATEWAY_UPSTREAM_CONNECT_TIMEOUT")
    # Longest silence from an upstream, between bytes, before the request fails.
    read_timeout_seconds: float = Field(default=600.0, gt=0, validation_alias="GATEWAY_UPSTREAM_READ_TIMEOUT")
    # Attempts per model on a retryable upstream failure (429, overload, 5xx,
    # timeouts), made only while nothing has reached the client.
    max_attempts: int = Field(default=3, ge=1, le=10, validation_alias="GATEWAY_UPSTREAM_MAX_ATTEMPTS")
    # Seconds before the first retry; each further retry waits twice as long, with jitter.
    retry_backoff_seconds: float = Field(default=0.5, ge=0, validation_alias="GATEWAY_UPSTREAM_RETRY_BACKOFF")
    # Maximum wait before a retry, in seconds; a provider asking for more (`retry-after`)
    # gets its error passed to the client instead.
    retry_max_wait_seconds: float = Field(default=10.0, ge=0, validation_alias="GATEWAY_UPSTREAM_RETRY_MAX_WAIT")
    # Largest image, in bytes, that the router downloads for a provider that needs the bytes.
    media_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1, validation_alias="GATEWAY_MEDIA_MAX_BYTES")
    media_fetch_timeout_seconds: float = Field(default=15.0, gt=0, validation_alias="GATEWAY_MEDIA_FETCH_TIMEOUT")
    max_upstream_connections: int = Field(default=1000, ge=1, validation_alias="GATEWAY_UPSTREAM_MAX_CONNECTIONS")
    # Seconds an event may wait for its JetStream ack before it is published again.
    event_ack_timeout_seconds: float = Field(default=5.0, gt=0, validation_alias="GATEWAY_EVENT_ACK_TIMEOUT")
    # Whether replies are logged at DEBUG; never on by default, because they are the users' content.
    log_content: bool = Field(default=False, validation_alias="GATEWAY_LOG_CONTENT")
    # Seconds that shutdown waits for in-flight requests and unacked events.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0, validation_alias="GATEWAY_SHUTDOWN_GRACE_SECONDS")
