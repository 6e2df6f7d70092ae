"""``/metrics`` on a port of its own (``--metrics-port``): a second uvicorn server on the same
event loop, serving only that route, over the same platform."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from autan.api.errors import install_error_handlers
from autan.api.routes import metrics
from autan.platform import Platform


def create_metrics_app(platform: Platform) -> FastAPI:
    app = FastAPI(title="autan metrics", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.platform = platform
    setattr(app.state, metrics.METRICS_ONLY, True)
    install_error_handlers(app)
    app.include_router(metrics.router)
    return app


class _EmbeddedServer(uvicorn.Server):
    """Leaves the signals to the main server, which stops this one from its lifespan."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class MetricsServer:
    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None]) -> None:
        self._server = server
        self._task = task

    @classmethod
    async def start(cls, app: FastAPI, platform: Platform) -> MetricsServer:
        settings = platform.settings
        assert settings.metrics.port is not None, "a metrics server needs --metrics-port"
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.metrics.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve())
        while not server.started:  # bound, or failed: then the task ends
            if task.done():
                task.result()
                raise OSError(f"the metrics port {settings.metrics.port} could not be opened")
            await asyncio.sleep(0.01)
        return cls(server, task)

    async def stop(self) -> None:
        self._server.should_exit = True
        await self._task
