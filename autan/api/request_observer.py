"""Each HTTP request measured and, when traced, spanned: pure ASGI, outermost, so that it sees
the whole request (auth, limits, the engine, the last byte of a stream).

Per request, with metrics on: ``autan_http_requests_total`` by route template and status,
the refusals by reason (429, 503), autan's added latency (the request's time less its engine
time), and the usage billed. With tracing on: a SERVER span continuing the client's
``traceparent``. Both read from the request's ``RequestContext`` (made by the request log's
middleware, outside this one), which the completion and embedding code fill in. Every
response carries ``Server-Timing`` with autan's and the engine's time so far (whole for a
non-streamed answer).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autan.observability.request_context import (
    RequestContext,
    current_request,
    new_context,
    request_scope,
)
from autan.storage.tables import utcnow

if TYPE_CHECKING:
    from autan.accounts.meter import Meter
    from autan.observability.metrics import Metrics
    from autan.observability.tracing import Tracing
    from autan.platform import Platform

UNMATCHED = "unmatched"  # the route label of a path no route serves (never the raw path)


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestObserverMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        platform: Platform | None = getattr(scope["app"].state, "platform", None)
        tracing = platform.tracing if platform is not None else None
        context = current_request() or new_context(scope["method"], scope["path"], utcnow())
        context.tracing = tracing
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                now = time.perf_counter()
                engine_ms = context.engine_seconds * 1000
                autan_ms = (now - context.started) * 1000 - engine_ms
                timing = f"autan;dur={autan_ms:.2f}, engine;dur={engine_ms:.2f}"
                message["headers"] = [
                    *message.get("headers", []),
                    (b"server-timing", timing.encode()),
                ]
            await send(message)

        with request_scope(context):
            if tracing is None:
                try:
                    await self.app(scope, receive, send_observed)
                finally:
                    self._record(platform, scope, context, status)
                return
            with _server_span(tracing, scope) as span:
                try:
                    await self.app(scope, receive, send_observed)
                finally:
                    _finish_span(span, scope, status)
                    self._record(platform, scope, context, status)

    @staticmethod
    def _record(
        platform: Platform | None, scope: Scope, context: RequestContext, status: int
    ) -> None:
        metrics: Metrics | None = platform.metrics if platform is not None else None
        if metrics is None:
            return
        gateway = metrics.gateway
        route = route_of(scope)
        gateway.http_requests.labels(route, scope["method"], str(status)).inc()
        total = time.perf_counter() - context.started
        gateway.added_latency.labels(route).observe(max(0.0, total - context.engine_seconds))
        state: dict[str, Any] = scope.get("state", {})
        meter: Meter | None = state.get("meter")
        workspace = meter.key.workspace_id if meter is not None else ""
        if status == 429:
            gateway.rate_limited.labels(context.error_code or "rate_limited", workspace).inc()
        elif status == 503:
            gateway.overloaded.labels(context.error_code or "overloaded").inc()
        if meter is not None and meter.model is not None and meter.usage.total_tokens:
            assert platform is not None
            gateway.record_usage(
                meter.model,
                workspace,
                meter.usage.prompt_tokens,
                meter.usage.completion_tokens or 0,
                meter.cost,
                platform.settings.accounts.currency,
            )


def _server_span(tracing: Tracing, scope: Scope) -> Any:
    from opentelemetry.trace import SpanKind

    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    method = scope["method"]
    return tracing.tracer.start_as_current_span(
        method,
        context=tracing.extract(headers),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "url.path": scope["path"]},
    )


def _finish_span(span: Any, scope: Scope, status: int) -> None:
    route = route_of(scope)
    span.update_name(f"{scope['method']} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    request_id = scope.get("state", {}).get("request_id")
    if request_id is not None:
        span.set_attribute("autan.request_id", str(request_id))
    if status >= 500:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR))
