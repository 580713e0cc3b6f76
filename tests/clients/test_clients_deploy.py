"""The deployment files read by their own tools: Compose validates compose.yaml (with and without
the GPU override), the Kubernetes manifests hang together (every Service finds its pods, every
secret and config map a workload names exists), and the container health check answers from a
real gRPC health service."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tests.clients.programs import COMPOSE, run_healthcheck
from tests.storage.fixtures import free_port

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


@pytest.mark.skipif(
    COMPOSE is None,
    reason="neither `docker compose` nor `docker-compose` is installed (Debian: docker-compose)",
)
@pytest.mark.parametrize("files", [["compose.yaml"], ["compose.yaml", "compose.gpu.yaml"]])
def test_compose_files_validate(files: list[str]) -> None:
    assert COMPOSE is not None
    args = [arg for name in files for arg in ("-f", name)]
    result = subprocess.run(
        [*COMPOSE, *args, "config"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"postgres", "minio", "omr", "gateway"}
    gateway = services["gateway"]["environment"]
    assert gateway["ETUDE_GATEWAY_DATABASE_URL"].startswith("postgresql://etude:")
    assert gateway["ETUDE_GATEWAY_OMR_ADDRESS"] == "omr:50051"
    assert gateway["ETUDE_GATEWAY_OMR_TOKEN"] == services["omr"]["environment"]["ETUDE_OMR_AUTH_TOKEN"]
    for name in ("postgres", "minio", "omr", "gateway"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name in ("omr", "gateway"):
        check_settings_names(services[name]["environment"], f"compose service {name}")
    device = services["omr"]["build"]["args"]["DEVICE"]
    assert device == ("gpu" if "compose.gpu.yaml" in files else "cpu")


def check_settings_names(environment: dict[str, str], where: str) -> None:
    """Every ETUDE_GATEWAY_* / ETUDE_OMR_* variable names a settings field (pydantic-settings
    ignores unknown names silently, so a typo would just not apply) and parses."""
    from gateway.settings import GatewaySettings
    from omr_server.settings import OmrSettings

    for prefix, settings_class in (("ETUDE_GATEWAY_", GatewaySettings), ("ETUDE_OMR_", OmrSettings)):
        fields = {name.upper() for name in settings_class.model_fields}
        mine = {key: value for key, value in environment.items() if key.startswith(prefix)}
        unknown = {key for key in mine if key.removeprefix(prefix) not in fields}
        assert not unknown, f"{where}: {sorted(unknown)} are not {settings_class.__name__} fields"
        with pytest.MonkeyPatch.context() as patch:
            for key in [key for key in os.environ if key.startswith(prefix)]:
                patch.delenv(key)
            for key, value in mine.items():
                if "$(" not in value:  # Kubernetes expands $(VAR) itself
                    patch.setenv(key, value)
            settings_class()  # parses the environment as the server will


def k8s_documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    documents: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        documents.extend(d for d in yaml.safe_load_all((K8S / resource).read_text()) if d)
    return documents


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk


def test_k8s_manifests_reference_what_exists() -> None:
    documents = k8s_documents()
    for document in documents:
        assert {"apiVersion", "kind", "metadata"} <= document.keys(), document
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for document in documents:
        by_kind.setdefault(document["kind"], {})[document["metadata"]["name"]] = document
    secret_keys = {
        name: set(secret.get("stringData", {})) | set(secret.get("data", {}))
        for name, secret in by_kind["Secret"].items()
    }
    workloads = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}
    pod_labels = []
    for name, workload in workloads.items():
        template = workload["spec"]["template"]
        labels = template["metadata"]["labels"]
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items(), f"{name}: selector does not match its pods"
        pod_labels.append(labels)
        for container in template["spec"]["containers"]:
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in by_kind["ConfigMap"], f"{name}: no such config map"
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secret_keys[ref["name"]], f"{name}: secret key {ref['key']} missing"
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                spec = container.get(probe, {})
                for kind in ("grpc", "httpGet"):
                    if kind in spec:
                        port = spec[kind]["port"]
                        assert port in ports or port in ports.values(), f"{name}: {probe} port {port}"
    for name, config_map in by_kind["ConfigMap"].items():
        check_settings_names(config_map["data"], f"config map {name}")
    for name, workload in workloads.items():
        for container in workload["spec"]["template"]["spec"]["containers"]:
            names = {v["name"]: v["value"] for v in container.get("env", []) if "value" in v}
            check_settings_names(names, f"{name} env")
    for name, service in by_kind["Service"].items():
        selector = service["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), (
            f"service {name} selects nothing"
        )
    # The shape this deployment promises: N gateways and N OMR servers on one Postgres.
    assert workloads["gateway"]["spec"]["replicas"] >= 2
    assert workloads["omr"]["spec"]["replicas"] >= 2
    assert workloads["postgres"]["spec"]["replicas"] == 1
    assert by_kind["Service"]["omr"]["spec"].get("clusterIP") == "None", "OMR service must be headless"


@pytest.fixture
def health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(grace=None)


def test_healthcheck_follows_the_serving_status(health_server: tuple[str, health.HealthServicer]) -> None:
    address, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert run_healthcheck(address).returncode == 0
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    result = run_healthcheck(address)
    assert result.returncode == 1
    assert "NOT_SERVING" in result.stderr
    result = run_healthcheck(address, "etude.omr.v1.OmrService")
    assert result.returncode == 1
    assert "NOT_FOUND" in result.stderr


def test_healthcheck_fails_when_nothing_listens() -> None:
    result = run_healthcheck(f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr or "DEADLINE_EXCEEDED" in result.stderr
