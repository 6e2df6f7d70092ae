"""What one API request did, filled in as it is handled and written to the request log when
it ends.

The context of the request being handled is reachable from anywhere below the HTTP layer
through ``current_request()`` (a context variable: the event loop task of the request and
the threads it hands work to). Code that learns something about the request sets it here:
the router, for example, records the deployment that answered::

    context = current_request()
    if context is not None:
        context.deployment = "vllm-a100-1"

The engine time a request accumulates (``add_engine_time``) is what autan subtracts from the
request's whole time to tell its own added latency (``autan_gateway_added_latency_seconds``);
``tracing`` is set when the request's spans are exported.

This module imports nothing else from autan at run time, so any layer may use it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autan.observability.tracing import Tracing

# A client's own id is kept when it is short and plain: it lands in logs, headers and CSV.
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def new_request_id() -> str:
    return str(uuid.uuid4())


def sane_request_id(value: str | None) -> str | None:
    """``value`` when it can be used as a request id (1-128 of ``A-Za-z0-9._:-``), else None."""
    if value is not None and _CLIENT_ID.match(value):
        return value
    return None


def new_context(
    method: str, endpoint: str, created_at: datetime, client_id: str | None = None
) -> RequestContext:
    """The context of a request starting now, known by ``client_id`` if sane, else by a new
    UUID."""
    event_id = new_request_id()
    request_id = sane_request_id(client_id) or event_id
    return RequestContext(request_id, event_id, method, endpoint, created_at)


@dataclass(slots=True)
class RequestContext:
    """One request: who asked, what for, and how it went. Times are from ``perf_counter``."""

    request_id: str
    # The record's id in the request log: a UUID, the request id itself unless the client
    # sent its own (which need not be unique, nor a UUID).
    event_id: str
    method: str
    endpoint: str
    created_at: datetime
    started: float = field(default_factory=time.perf_counter)
    workspace_id: str | None = None
    key_id: str | None = None
    model: str | None = None
    status: int = 500
    error_code: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    first_token_at: float | None = None
    finish_reason: str | None = None
    stream: bool = False
    batch_job_id: str | None = None
    # The deployment (engine, remote provider) that answered; None for the local engine.
    deployment: str | None = None
    nb_messages: int = 0
    # Days to keep the bodies below; None: bodies are not kept (the default).
    bodies_days: int | None = None
    # Kept as given (wire objects or dicts): the request log's writer thread turns them into
    # JSON, off the request path.
    request_messages: list[Any] | None = None
    response_messages: list[Any] | None = None
    tools: list[Any] | None = None
    # Seconds its completions and embeddings spent in an engine (for the added latency).
    engine_seconds: float = 0.0
    # Seconds its longest-waiting sequence was queued in an engine before it got a slot.
    queue_seconds: float | None = None
    # Set when the request's spans are exported.
    tracing: Tracing | None = None

    @property
    def keeps_bodies(self) -> bool:
        return self.bodies_days is not None

    def mark_first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()


_current: ContextVar[RequestContext | None] = ContextVar("autan_request", default=None)


def current_request() -> RequestContext | None:
    """The request being handled here, or None (a batch line, a background task)."""
    return _current.get()


def current_request_id() -> str | None:
    context = _current.get()
    return None if context is None else context.request_id


def enter_request(context: RequestContext | None) -> object:
    """Make ``context`` the current request; the token to hand to ``leave_request``."""
    return _current.set(context)


def leave_request(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


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


def note_queue_time(seconds: float) -> None:
    """One of the current request's sequences waited ``seconds`` for an engine slot."""
    context = _current.get()
    if context is not None:
        context.queue_seconds = max(seconds, context.queue_seconds or 0.0)


def is_traced() -> bool:
    """Whether the current request's spans are exported."""
    context = _current.get()
    return context is not None and context.tracing is not None
