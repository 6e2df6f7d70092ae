"""``deploy/k8s/*.yaml``: well-formed objects, consistent with one another and with autan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from autan.api.app import create_app
from autan.cli.main import app as cli

K8S = Path(__file__).parents[2] / "deploy" / "k8s"
API_VERSIONS = {"Deployment": "apps/v1", "Service": "v1"}
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def _objects() -> list[dict[str, Any]]:
    objects = []
    for path in sorted(K8S.glob("*.yaml")):
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return objects


def _deployments() -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in _objects() if o["kind"] == "Deployment"}


def _app_paths() -> set[str]:
    def no_platform() -> Any:
        raise AssertionError("the app is not started here")

    return set(create_app(no_platform).openapi()["paths"])


def test_every_object_has_a_known_kind_its_api_version_and_a_name() -> None:
    objects = _objects()
    assert {o["kind"] for o in objects} == {"Deployment", "Service"}
    for o in objects:
        assert o["apiVersion"] == API_VERSIONS[o["kind"]], o["metadata"]
        assert isinstance(o["metadata"]["name"], str) and o["metadata"]["name"]
    names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names)), names


@pytest.mark.parametrize("name", ["autan-serve", "autan-worker"])
def test_a_deployment_selects_its_own_pods_and_runs_an_autan_command(name: str) -> None:
    deployment = _deployments()[name]
    spec = deployment["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    (container,) = spec["template"]["spec"]["containers"]
    assert container["name"] and container["image"]
    commands = typer.main.get_group(cli).commands
    assert container["args"][0] in commands
    mounts = {m["name"] for m in container.get("volumeMounts", [])}
    assert mounts <= {v["name"] for v in spec["template"]["spec"].get("volumes", [])}
    for var in container["env"]:
        assert var["name"].startswith("AUTAN_")
        assert ("value" in var) != ("valueFrom" in var), var


def test_the_servers_leave_jobs_to_the_worker_which_serves_no_http() -> None:
    serve = _deployments()["autan-serve"]["spec"]["template"]["spec"]["containers"][0]
    worker = _deployments()["autan-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert serve["args"][0] == "serve" and "--no-jobs" in serve["args"]
    assert worker["args"] == ["worker"]
    assert "ports" not in worker and not any(p in worker for p in PROBES)


def test_the_probes_ask_routes_of_the_app_on_a_declared_port() -> None:
    serve = _deployments()["autan-serve"]["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"] for p in serve["ports"]} | {p["containerPort"] for p in serve["ports"]}
    paths = _app_paths()
    assert serve["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert serve["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in PROBES:
        get = serve[probe]["httpGet"]
        assert get["path"] in paths, get
        assert get["port"] in ports, get
    port = serve["args"][serve["args"].index("--port") + 1]
    assert int(port) in {p["containerPort"] for p in serve["ports"]}


def test_the_service_sends_traffic_to_the_servers_port() -> None:
    (service,) = [o for o in _objects() if o["kind"] == "Service"]
    serve = _deployments()["autan-serve"]["spec"]["template"]
    assert service["spec"]["selector"].items() <= serve["metadata"]["labels"].items()
    worker = _deployments()["autan-worker"]["spec"]["template"]
    assert not service["spec"]["selector"].items() <= worker["metadata"]["labels"].items()
    port_names = {p["name"] for p in serve["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
