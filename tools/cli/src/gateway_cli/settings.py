"""Settings of the service process itself, shared by every service that `gateway serve` runs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The metrics port of every service in the container images, Docker Compose and Kubernetes.
CONTAINER_METRICS_PORT = 9464


class ProcessSettings(BaseSettings):
    # An empty variable counts as unset, so `GATEWAY_METRICS_PORT=` turns the port off.
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", env_ignore_empty=True)

    log_format: Literal["json", "console"] = Field(default="json", validation_alias="GATEWAY_LOG_FORMAT")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", validation_alias="GATEWAY_LOG_LEVEL"
    )
    # Address of the metrics port: `/metrics`, `/healthz` and `/readyz`.
    metrics_host: str = Field(default="127.0.0.1", validation_alias="GATEWAY_METRICS_HOST")
    # Unset, the service serves no metrics port; the container images set it to CONTAINER_METRICS_PORT.
    metrics_port: int | None = Field(default=None, ge=0, le=65535, validation_alias="GATEWAY_METRICS_PORT")

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


def read_settings(command: str) -> ProcessSettings:
    """Read the process settings, or exit with one line per invalid variable."""
    try:
        return ProcessSettings()
    except ValidationError as error:
        lines = [f"{command}: invalid configuration:"]
        for problem in error.errors():
            variable = problem["loc"][0] if problem["loc"] else "?"
            lines.append(f"  {variable}={problem['input']!r}: {problem['msg']}")
        raise SystemExit("\n".join(lines)) from None
