"""``GET /livez`` and ``GET /readyz`` beside ``GET /health``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi.testclient import TestClient

from autan.platform import Platform
from autan.readiness import Readiness
from autan.storage.database import Database
from tests.fakes import fake_engine, fake_registry

# Nothing listens on port 1: a connection there is refused at once.
DEAD_REDIS = "redis://127.0.0.1:1/0"
DEAD_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/nothing"


def _platform(client: TestClient) -> Platform:
    platform = client.app.state.platform  # type: ignore[attr-defined]
    assert isinstance(platform, Platform)
    return platform


def test_livez_answers_without_checking_anything(client: TestClient) -> None:
    response = client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database_and_the_preloaded_models(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "models": "ok"},  # no Redis configured: not checked
        "failing": [],
    }
    assert client.get("/health").json()["status"] == "ok"  # unchanged beside them


def test_readyz_is_503_naming_an_unreachable_redis(client: TestClient) -> None:
    platform = _platform(client)
    db = platform.own_database
    assert db is not None
    readiness = Readiness(db, platform.registry, DEAD_REDIS, timeout=5)
    readiness.preloaded = True
    platform.readiness = readiness
    try:
        response = client.get("/readyz")
    finally:
        readiness.close()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready" and body["failing"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("ConnectionError: ")
    assert client.get("/livez").status_code == 200  # liveness does not depend on Redis


def test_readyz_is_503_naming_an_unreachable_database(client: TestClient) -> None:
    platform = _platform(client)
    db = Database(DEAD_POSTGRES)
    readiness = Readiness(db, platform.registry, None, timeout=5)
    readiness.preloaded = True
    platform.readiness = readiness
    try:
        response = client.get("/readyz")
    finally:
        db.close()
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database"]
    assert body["checks"]["database"].startswith("OperationalError: ")


def test_readyz_is_503_until_the_preload_models_have_loaded(tmp_path: Path) -> None:
    db = Database.open(None, tmp_path)

    engine, _ = fake_engine()
    registry = fake_registry(engine)
    readiness = Readiness(db, registry, None)
    try:
        checks = {c.name: c for c in asyncio.run(readiness.check())}
        assert not checks["models"].ok and checks["models"].detail == "loading fake-model"
        readiness.preloaded = True
        checks = {c.name: c for c in asyncio.run(readiness.check())}
        assert checks["models"].ok and checks["database"].ok
    finally:
        registry.close()
        engine.close()
        db.close()
