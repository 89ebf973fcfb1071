"""docker-compose.yml and the files it mounts, checked without a Docker engine.

The file must parse, point only at services, build targets, files and
configuration that exist, and hand each service only variables its code reads.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway_cli import SERVICES
from gateway_cli.settings import CONTAINER_METRICS_PORT
from tests.service_variables import variables_read_by
from tests.test_dockerfile import stages

ROOT = Path(__file__).resolve().parents[1]
# `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`; `$${...}` is a literal dollar sign.
INTERPOLATION = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>[^}]*)\}")


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def test_compose_defines_the_gateway_and_its_infrastructure() -> None:
    expected = {*SERVICES, "nats", "postgres", "clickhouse", "otel-collector", "prometheus", "console", "emulator"}

    assert set(services()) == expected


def test_dependencies_exist_and_wait_for_health() -> None:
    defined = services()
    for name, service in defined.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in defined, f"{name} depends on undefined service {dependency}"
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
            assert "healthcheck" in defined[dependency], f"{dependency} has no health check to wait for"


@pytest.mark.parametrize(
    ("service", "needs"),
    [
        ("edge", {"nats"}),
        ("router", {"nats"}),
        ("accounting", {"nats", "postgres", "clickhouse"}),
        ("sessions", {"nats", "postgres"}),
        ("catalog", {"nats", "postgres"}),
    ],
)
def test_service_waits_for_what_it_connects_to(service: str, needs: set[str]) -> None:
    assert set(services()[service]["depends_on"]) == needs


@pytest.mark.parametrize("service", SERVICES)
def test_service_image_and_health_check(service: str) -> None:
    definition = services()[service]

    assert definition["build"] == {"context": ".", "target": service}
    assert service in stages()
    assert definition["image"] == f"generative-gateway/{service}:${{GATEWAY_VERSION:-dev}}"
    assert definition["healthcheck"]["test"] == ["CMD", "gateway", "health", service]
    assert definition["restart"] == "unless-stopped"


@pytest.mark.parametrize("service", SERVICES)
def test_service_gets_only_variables_it_reads(service: str) -> None:
    environment = services()[service]["environment"]

    assert isinstance(environment, dict)
    assert set(environment) - variables_read_by(service) == set()


def test_services_with_a_database_get_its_url() -> None:
    for service in ("accounting", "sessions", "catalog"):
        assert services()[service]["environment"]["DATABASE_URL"].startswith("postgresql://gateway:")
    assert services()["accounting"]["environment"]["CLICKHOUSE_URL"].startswith("http://gateway:")


def test_router_passes_every_provider_credential_through() -> None:
    from tests.service_variables import provider_variables

    environment = services()["router"]["environment"]

    for variable in provider_variables():
        assert environment[variable] == f"${{{variable}:-}}"


def test_stop_grace_covers_the_services_own_shutdown() -> None:
    for service in ("edge", "router"):
        definition = services()[service]
        grace = int(definition["environment"]["GATEWAY_SHUTDOWN_GRACE_SECONDS"])
        # The router drains running requests, then unacked events, each within the grace period.
        drains = 2 if service == "router" else 1
        assert int(definition["stop_grace_period"].removesuffix("s")) > drains * grace


def test_console_image_and_edge_address() -> None:
    console = services()["console"]
    dockerfile = (ROOT / "services" / "console" / "Dockerfile").read_text()

    assert console["build"] == {"context": "./services/console"}
    assert console["image"] == "generative-gateway/console:${GATEWAY_VERSION:-dev}"
    assert console["environment"] == {"GATEWAY_EDGE_URL": "http://edge:8080"}
    assert console["ports"] == ["127.0.0.1:${GATEWAY_CONSOLE_PORT:-3000}:3000"]
    assert console["depends_on"] == {"edge": {"condition": "service_healthy"}}
    assert "USER 10001:10001" in dockerfile
    assert "PORT=3000" in dockerfile


def test_emulator_runs_only_in_its_profile() -> None:
    assert services()["emulator"]["profiles"] == ["emulator"]
    assert [name for name, service in services().items() if "profiles" in service] == ["emulator"]
    assert services()["router"]["environment"]["GATEWAY_EMULATOR_URL"] == "${GATEWAY_EMULATOR_URL:-}"
    assert "emulator" in stages()


def test_published_ports_listen_on_loopback_only() -> None:
    for name, service in services().items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_mounted_files_exist() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).is_file(), f"{name} mounts missing {source}"
            else:
                assert source in compose()["volumes"], f"{name} uses undeclared volume {source}"


def test_every_interpolated_variable_is_documented() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    documentation = (ROOT / "docs" / "deployment.md").read_text()

    interpolated = {match["name"] for match in INTERPOLATION.finditer(text)}

    assert interpolated, "the pattern found no variable at all"
    assert {name for name in interpolated if f"`{name}`" not in documentation} == set()


def test_prometheus_scrapes_every_service_on_the_metrics_port() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "compose" / "prometheus.yml").read_text())

    (job,) = config["scrape_configs"]
    (discovery,) = job["dns_sd_configs"]

    assert job["metrics_path"] == "/metrics"
    assert set(discovery["names"]) == set(SERVICES)
    assert discovery["port"] == CONTAINER_METRICS_PORT


def test_collector_pipeline_uses_only_defined_components() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "compose" / "otel-collector.yaml").read_text())
    endpoints = {services()[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] for name in SERVICES}

    for pipeline in config["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline[kind]) <= set(config[kind]), kind
    assert set(config["service"]["extensions"]) <= set(config["extensions"])
    assert endpoints == {"http://otel-collector:4317"}
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")


def test_nats_payload_limit_matches_local_run() -> None:
    conf = (ROOT / "deploy" / "compose" / "nats.conf").read_text()

    assert "max_payload: 8MB" in conf
    assert "jetstream" in conf


def test_docker_compose_accepts_the_file() -> None:
    """`docker compose config` validates against the Compose specification; it needs the CLI plugin, not an engine."""
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("The `docker compose` CLI plugin is not installed here.")

    for profile in ([], ["--profile", "emulator"]):
        result = subprocess.run(
            [docker, "compose", *profile, "config", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
