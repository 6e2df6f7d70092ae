from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from autan.accounts.accounts import Accounts
from autan.accounts.api_key import ApiKey
from autan.accounts.audit_log import Actor
from autan.accounts.key_store import KeyLimits
from autan.accounts.limit_store import LimitStore
from autan.accounts.memory_limits import MemoryLimits
from autan.accounts.prices import Prices
from autan.api.app import create_app
from autan.embeddings.service import EmbeddingService
from autan.models.card import ModelCard
from autan.models.registry import ModelRegistry
from autan.platform import Platform as AppPlatform
from autan.settings import (
    AccountsSettings,
    FilesSettings,
    FineTuningSettings,
    JobsSettings,
    MetricsSettings,
    RequestLimits,
    Settings,
)
from tests.fakes import ScriptBackend, fake_engine, fake_registry


def local_app(
    open_registry: Callable[[], ModelRegistry],
    data_dir: Path,
    *,
    embeddings: EmbeddingService | None = None,
    limits: RequestLimits | None = None,
    metrics: MetricsSettings | None = None,
) -> FastAPI:
    """An app as ``autan serve --no-auth`` assembles it, without fine-tuning; the registry is
    built when the app starts."""
    settings = Settings(
        no_auth=True,
        data_dir=data_dir,
        fine_tuning=FineTuningSettings(enabled=False),
        limits=limits or RequestLimits(),
        metrics=metrics or MetricsSettings(),
    )
    return create_app(
        lambda: AppPlatform.open(settings, open_registry(), embeddings=embeddings),
        settings.limits,
    )


@pytest.fixture
def backend_and_client(tmp_path: Path) -> Iterator[tuple[ScriptBackend, TestClient]]:
    engine, backend = fake_engine(b"Hello from autan!")
    app = local_app(lambda: fake_registry(engine), tmp_path)
    with TestClient(app) as client:
        yield backend, client


@pytest.fixture
def client(backend_and_client: tuple[ScriptBackend, TestClient]) -> TestClient:
    return backend_and_client[1]


@dataclass
class Platform:
    """An app with accounts on: its client, its accounts and the admin key made at start."""

    client: TestClient
    accounts: Accounts
    admin_key: str
    backend: ScriptBackend

    def key(
        self,
        *,
        models: tuple[str, ...] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        expires_at: datetime | None = None,
        workspace_id: str | None = None,
    ) -> tuple[ApiKey, str]:
        return self.accounts.keys.create(
            workspace_id=workspace_id or self.accounts.workspaces.default().id,
            actor=Actor.command_line(),
            limits=KeyLimits(models=models, requests_per_minute=rpm, tokens_per_minute=tpm),
            expires_at=expires_at,
        )


def platform_app(
    tmp_path: Path,
    *,
    database_url: str | None = None,
    limits: LimitStore | None = None,
    prices: Prices | None = None,
    script: bytes = b"Hello from autan!",
    files: FilesSettings | None = None,
    jobs: JobsSettings | None = None,
    max_waiting: int = 64,
    decode_delay: float = 0.0,
    embeddings: EmbeddingService | None = None,
    metrics: MetricsSettings | None = None,
    routed: list[ModelCard] | None = None,
) -> Iterator[Platform]:
    """Accounts, files and batch jobs on, data in ``tmp_path``; ``embeddings`` serves
    ``/v1/embeddings``; ``routed`` models go to their deployments."""
    engine, backend = fake_engine(script, max_waiting=max_waiting, decode_delay=decode_delay)
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        accounts=AccountsSettings(usage_flush_seconds=0.05),
        files=files or FilesSettings(),
        jobs=jobs or JobsSettings(),
        fine_tuning=FineTuningSettings(enabled=False),
        metrics=metrics or MetricsSettings(),
    )
    opened: list[AppPlatform] = []

    def open_platform() -> AppPlatform:
        platform = AppPlatform.open(
            settings,
            fake_registry(engine),
            embeddings=embeddings,
            limits=limits or MemoryLimits(),
            prices=prices,
            routed=routed,
        )
        opened.append(platform)
        return platform

    with TestClient(create_app(open_platform)) as client:
        (platform,) = opened
        assert platform.accounts is not None and platform.admin_secret is not None
        yield Platform(client, platform.accounts, platform.admin_secret, backend)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """Accounts on SQLite, limits in memory."""
    yield from platform_app(tmp_path)
