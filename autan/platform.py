"""The platform: every service the API serves, assembled from ``Settings`` in one place.

``autan serve`` and the tests build it the same way; only the expensive edges (the model
registry's engines, the limit store, prices) may be handed in.
"""

from __future__ import annotations

import asyncio
import fcntl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autan.accounts.accounts import Accounts
from autan.accounts.limit_store import LimitStore
from autan.accounts.prices import CardPrices, Prices
from autan.chat.service import ChatService
from autan.embeddings.service import EmbeddingService
from autan.fim.service import FimService
from autan.fine_tuning.fine_tuning_service import FineTuningService
from autan.fine_tuning.training_files import StoredTrainingFiles
from autan.jobs.batch.batch_caller import BatchCaller
from autan.jobs.batch.batch_system import BatchSystem
from autan.jobs.job_store import JobStore
from autan.models.card import ModelCard
from autan.models.registry import ModelRegistry
from autan.observability.gateway_metrics import JobCount
from autan.observability.metrics import Metrics
from autan.observability.request_log import RequestLog
from autan.observability.tracing import Tracing
from autan.readiness import Readiness
from autan.routing.deployment_state import LocalState, RedisState, RoutingState
from autan.routing.models_watch import ModelsWatch
from autan.routing.router import Router
from autan.settings import Settings
from autan.storage.database import Database

# Written beside the database: servers started together on one data directory take turns to
# migrate it (SQLite has no advisory lock).
_MIGRATE_LOCK = ".migrate.lock"


@dataclass
class Platform:
    """What the routes call. ``accounts`` is None under ``--no-auth`` (then files, batch and
    fine-tuning jobs live in one local workspace); ``fine_tuning`` is None when turned off."""

    settings: Settings
    registry: ModelRegistry
    chat: ChatService
    fim: FimService
    embeddings: EmbeddingService | None
    accounts: Accounts | None
    batch: BatchSystem
    fine_tuning: FineTuningService | None
    router: Router
    # The admin key made on the very first start (shown once), else None.
    admin_secret: str | None = None
    # The database opened without accounts (--no-auth), closed with the platform.
    own_database: Database | None = None
    # Reloads the models file while serving, when the models come from one.
    watch: ModelsWatch | None = None
    # Every API request's record, written off the request path; None when turned off.
    request_log: RequestLog | None = None
    # Prometheus metrics (None: turned off), OpenTelemetry traces (None: no OTLP endpoint).
    metrics: Metrics | None = None
    tracing: Tracing | None = None
    # What GET /readyz checks: the database, Redis, the preload models.
    readiness: Readiness | None = None

    @classmethod
    def open(
        cls,
        settings: Settings,
        registry: ModelRegistry,
        *,
        embeddings: EmbeddingService | None = None,
        limits: LimitStore | None = None,
        prices: Prices | None = None,
        routed: list[ModelCard] | None = None,
        watch: ModelsWatch | None = None,
    ) -> Platform:
        """Open the database (migrated), the accounts, files, batch and fine-tuning as
        ``settings`` say, and the router for the ``routed`` models. Nothing runs until
        ``start``; ``watch``, when given, then reloads the models file as it changes."""
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        chat = ChatService(registry, settings.limits)
        fim = FimService(registry)
        state: RoutingState = (
            LocalState()
            if settings.redis_url is None
            else RedisState(settings.redis_url, settings.accounts.redis_prefix)
        )
        router = Router(registry, chat, fim, embeddings, settings.routing, settings.limits, state)
        router.set_routed([c for c in routed or [] if c.routed])
        accounts = None
        admin_secret = None
        own_database = None
        if settings.no_auth:  # one local workspace, nothing metered
            db = own_database = _open_database(settings)
        else:
            accounts = Accounts.open(settings, prices or CardPrices(router), limits=limits)
            admin_secret = accounts.bootstrap_admin_key(settings.data_dir)
            db = accounts.db
        tracing = Tracing.from_environment(settings.tracing)
        metrics = None
        if settings.metrics.enabled:
            metrics = Metrics(registry, _job_counts(JobStore(db)))
            registry.on_load.append(metrics.observe_model)
            for model in registry:
                if model.served is not None:
                    metrics.observe_model(model.served)
            router.metrics = metrics.deployments
        request_log = None
        if settings.request_log.enabled:
            request_log = RequestLog(db, settings.request_log)
            request_log.start()
        batch = BatchSystem.open(
            accounts,
            BatchCaller(router),
            data_dir=settings.data_dir,
            db=db,
            files=settings.files.model_copy(update={"public_url": settings.public_url}),
            jobs=settings.jobs,
            batch_sequences=settings.engine.batch_sequences,
            request_log=request_log,
            tracing=tracing,
        )
        fine_tuning = None
        if settings.fine_tuning.enabled:
            # Training files are files uploaded through /v1/files, with or without keys.
            fine_tuning = FineTuningService(
                db,
                registry,
                StoredTrainingFiles(batch.files),
                settings.fine_tuning,
                settings.data_dir / "fine_tuning",
                settings.jobs,
                currency=settings.accounts.currency,
                blobs=batch.files.blobs,
            )
        return cls(
            settings,
            registry,
            chat,
            fim,
            embeddings,
            accounts,
            batch,
            fine_tuning,
            router,
            admin_secret,
            own_database,
            watch,
            request_log,
            metrics,
            tracing,
            Readiness(db, registry, settings.redis_url),
        )

    async def start(self) -> None:
        """Start the job runners, then load the models marked ``preload``."""
        if self.fine_tuning is not None:  # one job runner per process, for both kinds
            await self.fine_tuning.start(self.batch.runner)
        self.router.start()
        if self.watch is not None:
            self.watch.start(self.registry, self.router)
        await self.registry.preload()
        if self.readiness is not None:
            self.readiness.preloaded = True
        self.batch.start()

    async def close(self) -> None:
        """Stop the jobs (handed back for another process or the next start), write what
        the request log holds, then close the databases and unload the models."""
        if self.watch is not None:
            await self.watch.stop()
        if self.fine_tuning is not None:
            await self.fine_tuning.stop()
        await self.batch.close()
        await self.router.close()
        if self.request_log is not None:
            self.request_log.close()
        if self.readiness is not None:
            self.readiness.close()
        if self.accounts is not None:
            self.accounts.close()
        if self.own_database is not None:
            self.own_database.close()
        self.registry.close()
        if self.embeddings is not None:
            self.embeddings.close()
        if self.tracing is not None:  # exports what is left: may wait on the collector
            await asyncio.to_thread(self.tracing.close)


def _job_counts(store: JobStore) -> Callable[[], list[JobCount]]:
    def counts() -> list[JobCount]:
        return [JobCount(*row) for row in store.census()]

    return counts


def _open_database(settings: Settings) -> Database:
    data_dir: Path = settings.data_dir
    with (data_dir / _MIGRATE_LOCK).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return Database.open(settings.database_url, data_dir)
