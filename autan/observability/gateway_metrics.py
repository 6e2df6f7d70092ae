"""autan's own metrics (``autan_*``): what the gateway around the engines does.

Labels stay low: route templates, status codes, reasons, models and workspaces; never a key,
a request or a user's text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from autan.jobs.job import JobStatus
from autan.models.registry import ModelRegistry
from autan.observability.buckets import OVERHEAD_SECONDS


class GatewayMetrics:
    """Counters and histograms the HTTP layer and the services record as requests end."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.http_requests = Counter(
            "autan_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=registry,
        )
        self.rate_limited = Counter(
            "autan_rate_limited_requests",
            "Requests refused with 429, by reason (requests_rate_limited, tokens_rate_limited, "
            "spend_limit_exceeded) and workspace.",
            ("reason", "workspace"),
            registry=registry,
        )
        self.overloaded = Counter(
            "autan_overloaded_requests",
            "Requests refused with 503, by reason (overloaded: the engine's queue is full; "
            "model_load_failed).",
            ("reason",),
            registry=registry,
        )
        self.added_latency = Histogram(
            "autan_gateway_added_latency_seconds",
            "Time a request spent in autan outside the engines (routing, auth, limits, "
            "prompt building, serialization), by route template.",
            ("route",),
            buckets=OVERHEAD_SECONDS,
            registry=registry,
        )
        self.usage_tokens = Counter(
            "autan_usage_tokens",
            "Tokens billed, by model, workspace and type (prompt, completion).",
            ("model_name", "workspace", "type"),
            registry=registry,
        )
        self.usage_cost = Counter(
            "autan_usage_cost",
            "Cost billed, in the server's currency, by model and workspace.",
            ("model_name", "workspace", "currency"),
            registry=registry,
        )
        self.embedding_requests = Counter(
            "autan_embedding_requests",
            "Embedding requests answered, by model.",
            ("model_name",),
            registry=registry,
        )
        self.embedding_inputs = Counter(
            "autan_embedding_inputs",
            "Texts embedded, by model.",
            ("model_name",),
            registry=registry,
        )
        self.embedding_tokens = Counter(
            "autan_embedding_tokens",
            "Tokens of the texts embedded, by model.",
            ("model_name",),
            registry=registry,
        )

    def record_usage(
        self,
        model_name: str,
        workspace: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost: float,
        currency: str,
    ) -> None:
        self.usage_tokens.labels(model_name, workspace, "prompt").inc(prompt_tokens)
        self.usage_tokens.labels(model_name, workspace, "completion").inc(completion_tokens)
        self.usage_cost.labels(model_name, workspace, currency).inc(cost)

    def record_embeddings(self, model_name: str, inputs: int, tokens: int) -> None:
        self.embedding_requests.labels(model_name).inc()
        self.embedding_inputs.labels(model_name).inc(inputs)
        self.embedding_tokens.labels(model_name).inc(tokens)


@dataclass(frozen=True, slots=True)
class JobCount:
    """Jobs of one kind in one status, and their lines (batch jobs)."""

    kind: str
    status: str
    jobs: int
    lines: int
    succeeded_lines: int
    failed_lines: int


class PlatformCollector(Collector):
    """Read at scrape time: the models (loaded, loads, unloads, memory) and the jobs on record
    by state, with their lines (one grouped query; the scrape runs off the event loop)."""

    def __init__(
        self, registry: ModelRegistry, job_counts: Callable[[], list[JobCount]] | None
    ) -> None:
        self._registry = registry
        self._job_counts = job_counts

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self._models()
        if self._job_counts is not None:
            yield from self._jobs(self._job_counts())

    def _models(self) -> Iterator[Metric]:
        registry = self._registry
        labels = ["model_name"]
        loaded = GaugeMetricFamily(
            "autan_model_loaded", "1 while the model is loaded.", labels=labels
        )
        loads = CounterMetricFamily(
            "autan_model_loads", "Times the model was loaded.", labels=labels
        )
        unloads = CounterMetricFamily(
            "autan_model_unloads", "Times the model was unloaded to make room.", labels=labels
        )
        memory = GaugeMetricFamily(
            "autan_model_memory_bytes",
            "Estimated memory of the model when loaded (weights and KV cache).",
            labels=labels,
        )
        for model in list(registry):
            loaded.add_metric([model.id], 1 if model.served is not None else 0)
            loads.add_metric([model.id], model.loads)
            unloads.add_metric([model.id], model.unloads)
            memory.add_metric([model.id], model.plan.memory_bytes)
        yield from (loaded, loads, unloads, memory)
        yield GaugeMetricFamily(
            "autan_loaded_memory_bytes",
            "Estimated memory of the loaded models together.",
            value=registry.loaded_bytes,
        )
        yield GaugeMetricFamily(
            "autan_max_loaded_memory_bytes",
            "The budget of the loaded models (--max-loaded-memory).",
            value=registry.max_loaded_memory,
        )

    @staticmethod
    def _jobs(counts: list[JobCount]) -> Iterator[Metric]:
        batch = GaugeMetricFamily(
            "autan_batch_jobs", "Batch jobs on record, by status.", labels=["status"]
        )
        fine_tuning = GaugeMetricFamily(
            "autan_fine_tuning_jobs", "Fine-tuning jobs on record, by status.", labels=["status"]
        )
        lines = GaugeMetricFamily(
            "autan_batch_lines",
            "Lines of the batch jobs on record, by state (pending, succeeded, failed).",
            labels=["state"],
        )
        by_state = {"pending": 0, "succeeded": 0, "failed": 0}
        for count in counts:
            if count.kind == "batch":
                batch.add_metric([count.status], count.jobs)
                by_state["succeeded"] += count.succeeded_lines
                by_state["failed"] += count.failed_lines
                if not JobStatus(count.status).terminal:  # an ended job's lines never run
                    by_state["pending"] += max(
                        0, count.lines - count.succeeded_lines - count.failed_lines
                    )
            elif count.kind == "fine_tuning":
                fine_tuning.add_metric([count.status], count.jobs)
        for state, n in by_state.items():
            lines.add_metric([state], n)
        yield from (batch, fine_tuning, lines)
