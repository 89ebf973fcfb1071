"""Which environment variables each service reads, taken from the code itself.

The deployment files may set only these: a variable that no settings class
reads is a typo or a leftover, and the service would silently run with the
default instead.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings

from gateway_accounting.settings import AccountingSettings
from gateway_catalog.settings import CatalogSettings
from gateway_cli import SERVICES, tracing
from gateway_cli.settings import ProcessSettings
from gateway_edge.settings import EdgeSettings
from gateway_router.providers import PROVIDERS
from gateway_router.settings import RouterSettings
from gateway_sessions.settings import SessionsSettings

SETTINGS: dict[str, type[BaseSettings]] = {
    "edge": EdgeSettings,
    "router": RouterSettings,
    "accounting": AccountingSettings,
    "sessions": SessionsSettings,
    "catalog": CatalogSettings,
}

# Read by `gateway serve` and the OpenTelemetry SDK's own environment configuration, not by our settings classes.
OPENTELEMETRY_VARIABLES = tracing.VARIABLES


def settings_variables(settings: type[BaseSettings]) -> set[str]:
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        assert isinstance(alias, str), f"{settings.__name__}.{name} has no single environment variable"
        names.add(alias)
    return names


def provider_variables() -> set[str]:
    """The credential and base URL variables of every provider, which the router reads from its environment."""
    names = {spec.base_url_env for spec in PROVIDERS}
    names |= {spec.key_env for spec in PROVIDERS if spec.key_env}
    return names


def variables_read_by(service: str) -> set[str]:
    """Every variable that `gateway serve SERVICE` or `gateway migrate SERVICE` reads."""
    names = settings_variables(SETTINGS[service]) | settings_variables(ProcessSettings) | set(OPENTELEMETRY_VARIABLES)
    if service == "router":
        names |= provider_variables()
    return names


assert set(SETTINGS) == set(SERVICES), "every service needs its settings class here"
