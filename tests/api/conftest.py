from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
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
from autan.jobs.batch.batch_caller import BatchCaller
from autan.jobs.batch.batch_system import BatchSystem
from autan.models.registry import ModelRegistry
from autan.settings import AccountsSettings, FilesSettings, JobsSettings
from autan.storage.database import Database
from tests.fakes import ScriptBackend, fake_engine, fake_registry


@pytest.fixture
def backend_and_client() -> Iterator[tuple[ScriptBackend, TestClient]]:
    engine, backend = fake_engine(b"Hello from autan!")
    app = create_app(lambda: fake_registry(engine))
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
) -> Iterator[Platform]:
    """``files`` or ``jobs`` turn on files and batch jobs (data in ``tmp_path``);
    ``embeddings`` serves ``/v1/embeddings``."""
    engine, backend = fake_engine(script, max_waiting=max_waiting, decode_delay=decode_delay)
    opened: list[tuple[Accounts, str]] = []

    def open_accounts(registry: ModelRegistry) -> Accounts:
        accounts = Accounts(
            Database.open(database_url, tmp_path),
            limits or MemoryLimits(),
            prices=prices,
            settings=AccountsSettings(usage_flush_seconds=0.05),
        )
        accounts.usage.start()
        secret = accounts.bootstrap_admin_key(tmp_path)
        assert secret is not None
        opened.append((accounts, secret))
        return accounts

    def open_batch(accounts: Accounts, caller: BatchCaller) -> BatchSystem:
        return BatchSystem.open(accounts, caller, data_dir=tmp_path, files=files, jobs=jobs)

    with_batch = files is not None or jobs is not None
    app = create_app(
        lambda: fake_registry(engine),
        open_accounts,
        load_embeddings=lambda: embeddings,
        open_batch=open_batch if with_batch else None,
    )
    with TestClient(app) as client:
        accounts, secret = opened[0]
        yield Platform(client, accounts, secret, backend)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """Accounts on SQLite, limits in memory."""
    yield from platform_app(tmp_path)
