"""Migration 0008: workspaces gain per-minute limits, none for the workspaces already there;
and back, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from autan.accounts.workspace_store import WorkspaceStore
from autan.storage.database import Database
from tests.storage.test_migration_0004_jobs import _alembic


def test_workspaces_gain_per_minute_limits_and_lose_them_on_downgrade(db: Database) -> None:
    existing = WorkspaceStore(db).default()
    _alembic(db, "0007_shared_adapters", down=True)
    columns = {c["name"] for c in inspect(db.engine).get_columns("workspaces")}
    assert not columns & {"requests_per_minute", "tokens_per_minute"}
    _alembic(db, "head")
    kept = WorkspaceStore(db).get(existing.id)
    assert kept.name == existing.name
    assert kept.requests_per_minute is None and kept.tokens_per_minute is None
