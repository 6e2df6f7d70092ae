"""The metrics routing records through ``DeploymentMetrics``, as Prometheus reads them."""

from prometheus_client import CollectorRegistry, generate_latest

from autan.observability.deployment_metrics import DeploymentMetrics
from tests.observability.scrape import Scrape


def test_health_calls_and_fallbacks_are_exported_per_model_and_deployment() -> None:
    registry = CollectorRegistry()
    deployments = DeploymentMetrics(registry)
    deployments.set_healthy("mistral-small-latest", "vllm-a", True)
    deployments.set_healthy("mistral-small-latest", "vllm-b", False)
    for outcome in ("success", "success", "error"):
        deployments.upstream_request("mistral-small-latest", "vllm-a", outcome)  # type: ignore[arg-type]
    deployments.fallback("mistral-small-latest")
    deployments.forget("mistral-small-latest", "gone")  # never seen: nothing to drop

    scrape = Scrape(generate_latest(registry).decode())
    a = {"model_name": "mistral-small-latest", "deployment": "vllm-a"}
    b = {"model_name": "mistral-small-latest", "deployment": "vllm-b"}
    assert scrape.value("autan_deployment_healthy", **a) == 1
    assert scrape.value("autan_deployment_healthy", **b) == 0
    assert scrape.value("autan_upstream_requests_total", **a, outcome="success") == 2
    assert scrape.value("autan_upstream_requests_total", **a, outcome="error") == 1
    assert scrape.value("autan_fallbacks_total", model_name="mistral-small-latest") == 1

    deployments.forget("mistral-small-latest", "vllm-b")
    after = Scrape(generate_latest(registry).decode())
    assert after.value("autan_deployment_healthy", **b) == 0
    assert len(after.samples["autan_deployment_healthy"]) == 1
