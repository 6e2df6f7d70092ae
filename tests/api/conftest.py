from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from autan.api.app import create_app
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
