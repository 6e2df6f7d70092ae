"""The metrics of one server: every series, in one Prometheus registry of its own (not the
process-wide default, so that two apps in one process never share counters)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector as PythonInfoCollector
from prometheus_client.process_collector import ProcessCollector

from autan.models.registry import ModelRegistry, ServedModel
from autan.observability.deployment_metrics import DeploymentMetrics
from autan.observability.engine_metrics import EngineCollector, EngineMetrics
from autan.observability.gateway_metrics import GatewayMetrics, JobCount, PlatformCollector

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """``engine``: vLLM's names; ``gateway``: autan's own; ``deployments``: routing's. The
    loaded models and the jobs are read when scraped."""

    def __init__(
        self,
        models: ModelRegistry,
        job_counts: Callable[[], list[JobCount]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        for standard in (ProcessCollector, PythonInfoCollector, GCCollector):
            standard(registry=self.registry)
        self.engine = EngineMetrics(self.registry)
        self.gateway = GatewayMetrics(self.registry)
        self.deployments = DeploymentMetrics(self.registry)
        self.registry.register(EngineCollector(models))
        self.registry.register(PlatformCollector(models, job_counts))

    def observe_model(self, model: ServedModel) -> None:
        """Record ``model``'s engine from now on (called as each model loads)."""
        model.engine.observe(self.engine.for_model(model.id))

    def render(self) -> bytes:
        """The text exposition format. Reads the engines and the database: call it off the
        event loop."""
        return generate_latest(self.registry)
