"""A batch line as a trace of its own: a ``batch_line`` span over the line's run, with the
line's request context marked as traced, so that the completion it runs nests under it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from autan.observability.request_context import RequestContext
from autan.observability.tracing import Tracing

if TYPE_CHECKING:
    from opentelemetry.trace import Span


@contextmanager
def line_span(
    tracing: Tracing | None, context: RequestContext, job_id: str, line: int
) -> Iterator[Span | None]:
    """The span of line ``line`` of batch job ``job_id`` (whose ``context`` is the current
    request's) while the block runs; nothing (None) without tracing."""
    if tracing is None:
        yield None
        return
    context.tracing = tracing
    attributes: dict[str, str | int] = {
        "autan.batch.job_id": job_id,
        "autan.batch.line": line,
        "url.path": context.endpoint,
    }
    with tracing.tracer.start_as_current_span("batch_line", attributes=attributes) as span:
        yield span
