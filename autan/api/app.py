"""The FastAPI application, assembled in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from autan import __version__
from autan.api.access_log import redact_access_log
from autan.api.body_limit import BodyLimitMiddleware
from autan.api.errors import install_error_handlers
from autan.api.metering import MeteringMiddleware
from autan.api.metrics_server import MetricsServer, create_metrics_app
from autan.api.request_log import RequestLogMiddleware
from autan.api.request_observer import RequestObserverMiddleware
from autan.api.routes import (
    admin_audit,
    admin_billing,
    admin_keys,
    admin_models,
    admin_workspaces,
    batch,
    chat,
    embeddings,
    files,
    fim,
    fine_tuning,
    health,
    metrics,
    models,
    observability,
)
from autan.console.console_files import ConsoleFiles
from autan.platform import Platform
from autan.settings import RequestLimits


def create_app(
    open_platform: Callable[[], Platform], limits: RequestLimits | None = None
) -> FastAPI:
    """The HTTP API over the platform ``open_platform`` assembles when the server starts;
    its job runners start, then the models marked ``preload`` load, so the server answers its
    first request without waiting for them. ``limits.max_body_bytes`` bounds every request
    body (``RequestLimits()`` when not given)."""
    limits = limits or RequestLimits()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = open_platform()
        app.state.platform = platform
        metrics_server: MetricsServer | None = None
        try:
            await platform.start()
            if platform.metrics is not None and platform.settings.metrics.port is not None:
                metrics_server = await MetricsServer.start(create_metrics_app(platform), platform)
            yield
        finally:
            if metrics_server is not None:
                await metrics_server.stop()
            await platform.close()

    app = FastAPI(
        title="autan",
        version=__version__,
        description="The Mistral API, served from your own machine.",
        lifespan=lifespan,
        # Swagger UI and ReDoc load their scripts from a CDN; /openapi.json stays.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    redact_access_log()
    app.add_middleware(MeteringMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    # Inside the request log's: it sees the request's context (its id) and the whole answer.
    app.add_middleware(RequestObserverMiddleware)
    # Outermost: every answer, refusals of the body limit included, carries the request id.
    app.add_middleware(RequestLogMiddleware)
    for router in (
        chat.router,
        fim.router,
        embeddings.router,
        models.router,
        health.router,
        metrics.router,
    ):
        app.include_router(router)
    for router in (files.router, batch.router):
        app.include_router(router)
    app.include_router(fine_tuning.router)
    app.include_router(observability.router)
    for router in (
        admin_keys.router,
        admin_workspaces.router,
        admin_billing.router,
        admin_audit.router,
        admin_models.router,
    ):
        app.include_router(router)
    app.mount("/console", ConsoleFiles(), name="console")
    return app
