"""Metrics of routing to deployments (remote engines, providers): their health, the calls
made to them and the fallbacks taken. The router records them through these methods:

    metrics.deployments.set_healthy("mistral-small-latest", "vllm-a", False)
    metrics.deployments.upstream_request("mistral-small-latest", "vllm-a", "error")
    metrics.deployments.fallback("mistral-small-latest")

``deployment`` is the deployment's configured name, never its URL or key.
"""

from __future__ import annotations

import contextlib
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge

# How one call to a deployment ended.
UpstreamOutcome = Literal["success", "error", "timeout", "rate_limited", "overloaded"]


class DeploymentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._healthy = Gauge(
            "autan_deployment_healthy",
            "1 while the deployment passes its health checks, 0 while it is out of rotation.",
            ("model_name", "deployment"),
            registry=registry,
        )
        self._fallbacks = Counter(
            "autan_fallbacks",
            "Requests answered by another deployment or model than the first one tried.",
            ("model_name",),
            registry=registry,
        )
        self._upstream = Counter(
            "autan_upstream_requests",
            "Calls made to a deployment, by how they ended.",
            ("model_name", "deployment", "outcome"),
            registry=registry,
        )

    def set_healthy(self, model_name: str, deployment: str, healthy: bool) -> None:
        """The deployment's latest health check passed (True) or failed (False)."""
        self._healthy.labels(model_name, deployment).set(1 if healthy else 0)

    def fallback(self, model_name: str) -> None:
        """A request for ``model_name`` moved on to its next deployment or fallback model."""
        self._fallbacks.labels(model_name).inc()

    def upstream_request(self, model_name: str, deployment: str, outcome: UpstreamOutcome) -> None:
        """One call to ``deployment`` ended with ``outcome``."""
        self._upstream.labels(model_name, deployment, outcome).inc()

    def forget(self, model_name: str, deployment: str) -> None:
        """The deployment is no longer configured: drop its health series."""
        with contextlib.suppress(KeyError):
            self._healthy.remove(model_name, deployment)
