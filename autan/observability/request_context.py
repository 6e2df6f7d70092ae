"""What the code under one request shares with the layer that observes it, without being
handed it: a context variable the HTTP middleware (or a batch line) sets, and that every task
and worker thread started under the request inherits.

The engine time a request accumulates is what autan subtracts from the request's whole time
to tell its own added latency (``autan_gateway_added_latency_seconds``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autan.observability.tracing import Tracing


@dataclass(slots=True, eq=False)
class RequestContext:
    """``started``: ``time.perf_counter()`` when the request arrived; ``engine_seconds``: the
    time its completions and embeddings spent in an engine; ``tracing``: set when traces are
    exported."""

    started: float = field(default_factory=time.perf_counter)
    engine_seconds: float = 0.0
    tracing: Tracing | None = None


_current: ContextVar[RequestContext | None] = ContextVar("autan_request", default=None)


def current_request() -> RequestContext | None:
    return _current.get()


@contextmanager
def request_scope(context: RequestContext) -> Iterator[RequestContext]:
    """``context`` is the current request's within the block."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def add_engine_time(seconds: float) -> None:
    """Count ``seconds`` the current request spent waiting on an engine (if any request)."""
    context = _current.get()
    if context is not None:
        context.engine_seconds += seconds


def is_traced() -> bool:
    """Whether the current request's spans are exported."""
    context = _current.get()
    return context is not None and context.tracing is not None
