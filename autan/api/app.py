"""The FastAPI application, assembled in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from autan import __version__
from autan.api.errors import install_error_handlers
from autan.api.routes import chat, embeddings, fim, health, models
from autan.chat.service import ChatService
from autan.embeddings.service import EmbeddingService
from autan.fim.service import FimService
from autan.models.registry import ModelRegistry


def create_app(
    load_registry: Callable[[], ModelRegistry],
    load_embeddings: Callable[[], EmbeddingService | None] = lambda: None,
) -> FastAPI:
    """Build the app; the loaders run at start-up, then the models marked ``preload`` load, so
    the server answers its first request without waiting for them. ``load_embeddings`` may
    give None: ``/v1/embeddings`` then answers 404 for every model."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = load_registry()
        app.state.registry = registry
        app.state.chat = ChatService(registry)
        app.state.fim = FimService(registry)
        app.state.embeddings = load_embeddings()
        try:
            await registry.preload()
            yield
        finally:
            registry.close()
            if app.state.embeddings is not None:
                app.state.embeddings.close()

    app = FastAPI(
        title="autan",
        version=__version__,
        description="The Mistral API, served from your own machine.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for router in (chat.router, fim.router, embeddings.router, models.router, health.router):
        app.include_router(router)
    return app
