"""The span of one completion, ``{operation} {model}`` (GenAI semantic conventions), and its
children for the engine's phases: queueing, prefill and decode of every choice, drawn after
the fact from the times the scheduler noted (``SequenceTimings``), so that tracing adds
nothing to the engine thread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from autan.inference.sequence import SequenceTimings
from autan.observability.request_context import current_request
from autan.observability.tracing import Tracing, epoch_clock

if TYPE_CHECKING:
    from opentelemetry.trace import Span

PROVIDER = "mistral_ai"  # gen_ai.provider.name: autan serves the Mistral API


class CompletionTrace:
    """Made with ``CompletionTrace.start`` (None when the request is not traced)."""

    def __init__(self, tracing: Tracing, span: Span) -> None:
        self._tracing = tracing
        self.span = span
        self._started = time.perf_counter()
        self._first_chunk = 0.0
        self._timings: list[tuple[int, SequenceTimings]] = []

    @classmethod
    def start(
        cls,
        operation: str,
        model: str,
        attributes: dict[str, Any],
        content: Callable[[], Any] | None = None,
    ) -> CompletionTrace | None:
        """``attributes``: the ``gen_ai.request.*`` ones; ``content``, called only when the
        user opted in to content capture, gives the input messages."""
        request = current_request()
        if request is None or request.tracing is None:
            return None
        tracing = request.tracing
        from opentelemetry.trace import SpanKind

        span = tracing.tracer.start_span(
            f"{operation} {model}",
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": operation,
                "gen_ai.provider.name": PROVIDER,
                "gen_ai.request.model": model,
                **{k: v for k, v in attributes.items() if v is not None},
            },
        )
        if tracing.capture_content and content is not None:
            span.set_attribute("gen_ai.input.messages", json.dumps(content(), default=str))
        return cls(tracing, span)

    @contextmanager
    def current(self) -> Iterator[None]:
        """The span is the current one in the block: spans made there are its children."""
        from opentelemetry import context, trace

        token = context.attach(trace.set_span_in_context(self.span))
        try:
            yield
        finally:
            context.detach(token)

    def output(self, index: int, timings: SequenceTimings | None) -> None:
        """An output of choice ``index`` arrived; the last one carries its ``timings``."""
        if not self._first_chunk:
            self._first_chunk = time.perf_counter()
        if timings is not None:
            self._timings.append((index, timings))

    def end(
        self,
        *,
        response_id: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        finish_reasons: list[str],
        outputs: Callable[[], Any] | None = None,
        error: BaseException | None = None,
    ) -> None:
        span = self.span
        span.set_attribute("gen_ai.response.id", response_id)
        span.set_attribute("gen_ai.response.model", model)
        span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
        if finish_reasons:
            span.set_attribute("gen_ai.response.finish_reasons", finish_reasons)
        if self._first_chunk:
            span.set_attribute(
                "gen_ai.response.time_to_first_chunk", self._first_chunk - self._started
            )
        if self._tracing.capture_content and outputs is not None:
            span.set_attribute("gen_ai.output.messages", json.dumps(outputs(), default=str))
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            span.set_attribute("error.type", type(error).__name__)
            span.set_status(Status(StatusCode.ERROR, str(error)[:200]))
        self._engine_spans()
        span.end()

    def fail(self, model: str, error: BaseException) -> None:
        """The completion never reached the engine (unknown model, bad request, refused)."""
        self.end(
            response_id="",
            model=model,
            input_tokens=0,
            output_tokens=0,
            finish_reasons=[],
            error=error,
        )

    def _engine_spans(self) -> None:
        from opentelemetry import trace

        parent = trace.set_span_in_context(self.span)
        tracer = self._tracing.tracer
        epoch_ns = epoch_clock()
        for index, t in self._timings:
            phases = [("autan.queue", t.arrived, t.admitted)]
            if t.first_token:
                phases += [
                    ("autan.prefill", t.admitted, t.first_token),
                    ("autan.decode", t.first_token, t.finished),
                ]
            for name, begin, end in phases:
                if not (begin and end):
                    continue
                child = tracer.start_span(
                    name,
                    context=parent,
                    start_time=epoch_ns(begin),
                    attributes={
                        "gen_ai.choice.index": index,
                        "autan.cached_tokens": t.cached_tokens,
                    }
                    if name == "autan.prefill"
                    else {"gen_ai.choice.index": index},
                )
                child.end(end_time=epoch_ns(end))
