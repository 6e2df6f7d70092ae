"""OpenTelemetry traces, exported over OTLP/HTTP when the standard variables ask for it.

Nothing is set up, imported or recorded unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set: ``Tracing.from_environment`` then returns
None and every span helper here is a single ``None`` check. The SDK reads the other standard
variables itself (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``,
``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_EXPORTER_OTLP_TIMEOUT``, ``OTEL_BSP_*``...).

Spans follow the OpenTelemetry GenAI semantic conventions (``chat {model}``,
``gen_ai.*`` attributes); a W3C ``traceparent`` from the client is continued.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from autan import __version__
from autan.observability.request_context import current_request
from autan.settings import TracingSettings

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer


def epoch_clock() -> Callable[[float], int]:
    """A converter from ``time.perf_counter()`` seconds (the engine's clock) to epoch nanoseconds
    (OTLP's clock), its offset measured now: one offset taken once at start would drift from the
    wall clock as a long-running server's clock is slewed, and engine phases would leave their
    request's span. Convert all of one request's instants with the same converter, so that two
    phases that meet at one instant still meet after conversion."""
    offset = time.time_ns() - int(time.perf_counter() * 1e9)
    return lambda perf_seconds: offset + int(perf_seconds * 1e9)


def _wanted(environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


class Tracing:
    """A tracer provider exporting in batches from its own thread; ``tracer`` makes spans."""

    def __init__(self, provider: TracerProvider, *, capture_content: bool = False) -> None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("autan", __version__)
        self.capture_content = capture_content
        self.propagator = TraceContextTextMapPropagator()

    @classmethod
    def from_environment(
        cls, settings: TracingSettings, environ: Mapping[str, str] | None = None
    ) -> Tracing | None:
        """Traces exported over OTLP/HTTP (protobuf) as the ``OTEL_*`` variables say, or None
        when they name no endpoint (or turn the SDK off)."""
        environ = os.environ if environ is None else environ
        if not _wanted(environ):
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create()
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: "autan"}))
        provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider, capture_content=settings.capture_content)

    def extract(self, headers: Mapping[str, str]) -> Context:
        """The client's trace context (``traceparent``, ``tracestate``), or an empty one."""
        return self.propagator.extract(carrier=headers)

    def close(self) -> None:
        """Export what is buffered, then stop (blocks up to the exporter's timeout)."""
        self.provider.shutdown()


@contextmanager
def child_span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Span | None]:
    """A span under the current one while the block runs, when the current request is
    traced; else nothing (and None)."""
    request = current_request()
    if request is None or request.tracing is None:
        yield None
        return
    with request.tracing.tracer.start_as_current_span(name, attributes=attributes) as span:
        yield span


def inject_trace_context(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add ``traceparent`` (and ``tracestate``) for the current span to ``headers`` of a call
    made on the request's behalf (a routed call to another engine), so that the callee's spans
    join the client's trace. Leaves ``headers`` as they are when nothing is traced."""
    request = current_request()
    if request is not None and request.tracing is not None:
        request.tracing.propagator.inject(headers)
    return headers
