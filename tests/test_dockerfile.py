"""The Dockerfile builds one non-root image per service, each with a health check."""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from gateway_cli import SERVICES
from gateway_cli.settings import CONTAINER_METRICS_PORT

ROOT = Path(__file__).resolve().parents[1]


def stages() -> dict[str, list[dict[str, str]]]:
    """The instructions of each named stage, keyed by its name."""
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    found: dict[str, list[dict[str, str]]] = {}
    current: list[dict[str, str]] | None = None
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            name = instruction["value"].split(" AS ")[-1].strip()
            current = found.setdefault(name, [])
        elif current is not None and instruction["instruction"] != "COMMENT":
            current.append(instruction)
    return found


def values(stage: list[dict[str, str]], instruction: str) -> list[str]:
    return [item["value"] for item in stage if item["instruction"] == instruction]


def test_stages_cover_every_service_and_the_emulator() -> None:
    assert list(stages()) == ["wheels", "runtime", *SERVICES, "emulator"]


def test_wheels_stage_builds_every_package_of_the_repository() -> None:
    packages = {str(path.parent.relative_to(ROOT)) for path in ROOT.glob("*/*/pyproject.toml")}
    (build,) = [value for value in values(stages()["wheels"], "RUN") if "pip wheel" in value]

    built = {argument.strip('"').split("[")[0].removeprefix("./") for argument in shlex.split(build) if "/" in argument}

    assert packages <= built


@pytest.mark.parametrize("service", SERVICES)
def test_service_image_runs_its_service_as_non_root(service: str) -> None:
    stage = stages()[service]

    assert values(stage, "USER") == ["10001:10001"]
    assert values(stage, "CMD") == [f'["serve", "{service}"]']
    assert f'CMD ["gateway", "health", "{service}"]' in values(stage, "HEALTHCHECK")[0]
    assert f"gateway-{service}" in values(stage, "RUN")[0].split()


def test_runtime_stage_sets_port_and_user() -> None:
    runtime = stages()["runtime"]
    environment = " ".join(values(runtime, "ENV"))

    assert f"GATEWAY_METRICS_PORT={CONTAINER_METRICS_PORT}" in environment.split()
    assert "GATEWAY_METRICS_HOST=0.0.0.0" in environment.split()
    assert "--uid 10001" in values(runtime, "RUN")[0]
    assert values(runtime, "ENTRYPOINT") == ['["gateway"]']


def test_base_image_is_the_oldest_supported_python() -> None:
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    (argument,) = [item["value"] for item in parser.structure if item["instruction"] == "ARG"]
    minimums = {
        tomllib.loads(path.read_text())["project"]["requires-python"] for path in ROOT.glob("*/*/pyproject.toml")
    }

    assert minimums == {">=3.11"}
    assert argument == "PYTHON_IMAGE=python:3.11-slim-bookworm"
