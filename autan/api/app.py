"""The FastAPI application, assembled in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from autan import __version__
from autan.accounts.accounts import Accounts
from autan.api.errors import install_error_handlers
from autan.api.metering import MeteringMiddleware
from autan.api.routes import (
    admin_audit,
    admin_billing,
    admin_keys,
    admin_workspaces,
    batch,
    chat,
    embeddings,
    files,
    fim,
    fine_tuning,
    health,
    models,
)
from autan.chat.service import ChatService
from autan.embeddings.service import EmbeddingService
from autan.fim.service import FimService
from autan.fine_tuning.fine_tuning_service import FineTuningService
from autan.jobs.batch.batch_caller import BatchCaller
from autan.jobs.batch.batch_system import BatchSystem
from autan.models.registry import ModelRegistry

OpenAccounts = Callable[[ModelRegistry], Accounts]
OpenBatch = Callable[[Accounts, BatchCaller], BatchSystem]
# Given the registry (to serve fine-tuned models) and the accounts (their database), if any.
OpenFineTuning = Callable[[ModelRegistry, Accounts | None], FineTuningService]


def create_app(
    load_registry: Callable[[], ModelRegistry],
    open_accounts: OpenAccounts | None = None,
    load_embeddings: Callable[[], EmbeddingService | None] = lambda: None,
    open_batch: OpenBatch | None = None,
    open_fine_tuning: OpenFineTuning | None = None,
) -> FastAPI:
    """Build the app; the loaders run at start-up, then the models marked ``preload`` load, so
    the server answers its first request without waiting for them.

    ``open_accounts`` (given the registry, for prices) turns on API keys, limits and usage;
    without it every request is served without a key (``--no-auth``). ``load_embeddings`` may
    give None: ``/v1/embeddings`` then answers 404 for every model. ``open_batch`` (with
    accounts on) serves files and batch jobs and runs the jobs. Without ``open_fine_tuning``,
    ``/v1/fine_tuning`` answers 403.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = load_registry()
        app.state.registry = registry
        app.state.chat = ChatService(registry)
        app.state.fim = FimService(registry)
        app.state.embeddings = load_embeddings()
        app.state.accounts = open_accounts(registry) if open_accounts else None
        app.state.batch = None
        if open_batch is not None and app.state.accounts is not None:
            caller = BatchCaller(registry, app.state.chat, app.state.fim, app.state.embeddings)
            app.state.batch = open_batch(app.state.accounts, caller)
        app.state.fine_tuning = None
        try:
            if open_fine_tuning is not None:
                app.state.fine_tuning = open_fine_tuning(registry, app.state.accounts)
                # One job runner per process: batch's, when there is one, runs fine-tuning too.
                runner = app.state.batch.runner if app.state.batch is not None else None
                await app.state.fine_tuning.start(runner)
            await registry.preload()
            if app.state.batch is not None:
                app.state.batch.start()
            yield
        finally:
            if app.state.fine_tuning is not None:
                await app.state.fine_tuning.stop()
            if app.state.batch is not None:
                await app.state.batch.close()
            if app.state.accounts is not None:
                app.state.accounts.close()
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
    app.add_middleware(MeteringMiddleware)
    for router in (chat.router, fim.router, embeddings.router, models.router, health.router):
        app.include_router(router)
    for router in (files.router, batch.router):
        app.include_router(router)
    app.include_router(fine_tuning.router)
    for router in (
        admin_keys.router,
        admin_workspaces.router,
        admin_billing.router,
        admin_audit.router,
    ):
        app.include_router(router)
    return app
