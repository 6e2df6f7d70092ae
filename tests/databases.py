"""The databases and Redis the accounts tests run against.

Every storage test runs on SQLite and on PostgreSQL (a fresh database per test, dropped after).
With ``CI=true`` a missing PostgreSQL or Redis fails the test; elsewhere it is skipped with the
reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

POSTGRES_ADMIN_URL = os.environ.get(
    "AUTAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("AUTAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({error.__class__.__name__}: {error})"
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; CI must provide it")
    pytest.skip(message)


def fresh_postgres() -> Iterator[str]:
    """A new, empty PostgreSQL database; its URL. Dropped afterwards."""
    name = f"autan_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as e:
        admin.dispose()
        _unavailable("PostgreSQL", e)
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def database_url(kind: str, tmp_path: Path) -> Iterator[str | None]:
    """None for SQLite (the default file in ``tmp_path``), else a fresh PostgreSQL URL."""
    if kind == "sqlite":
        yield None
    else:
        yield from fresh_postgres()


def redis_prefix() -> Iterator[str]:
    """A key prefix no other test uses on the test Redis; its keys are deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as e:
        client.close()
        _unavailable("Redis", e)
    prefix = f"autan-test-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()
