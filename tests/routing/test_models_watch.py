"""The models file followed while serving: a model added, a replica added, a broken edit."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from autan.api.app import create_app
from autan.models.card import ModelCard
from autan.models.models_file import ModelsFile
from autan.platform import Platform
from autan.routing.models_watch import ModelsWatch
from autan.settings import FineTuningSettings, RoutingSettings, Settings
from tests.fakes import fake_engine, fake_registry
from tests.routing.scripted_upstream import scripted_upstream


def _wait_for(client: TestClient, check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check(client):  # type: ignore[operator]
        assert time.monotonic() < deadline, "the server did not pick the change up"
        time.sleep(0.05)


def test_a_models_file_change_reaches_the_running_server(tmp_path: Path) -> None:
    file = ModelsFile(tmp_path / "models.toml")
    engine, _ = fake_engine()
    settings = Settings(
        no_auth=True,
        data_dir=tmp_path,
        fine_tuning=FineTuningSettings(enabled=False),
        routing=RoutingSettings(reload_interval=0.05),
    )
    watch = ModelsWatch(file.path, [], settings.routing.reload_interval)
    app = create_app(
        lambda: Platform.open(settings, fake_registry(engine), routed=[], watch=watch),
        settings.limits,
    )

    def ids(client: TestClient) -> set[str]:
        return {m["id"] for m in client.get("/v1/models").json()["data"]}

    with scripted_upstream() as a, scripted_upstream() as b, TestClient(app) as client:
        assert "routed" not in ids(client)
        deployment = {"backend": "openai", "url": f"{a.url}/v1", "upstream_model": "m"}
        file.write([ModelCard.model_validate({"id": "routed", "deployments": [deployment]})])
        _wait_for(client, lambda c: "routed" in ids(c))
        body = {"model": "routed", "messages": [{"role": "user", "content": "hi"}]}
        assert client.post("/v1/chat/completions", json=body).status_code == 200
        assert len(a.requests) == 1

        replica = {**deployment, "url": f"{b.url}/v1"}
        file.write(
            [ModelCard.model_validate({"id": "routed", "deployments": [deployment, replica]})]
        )
        _wait_for(client, lambda c: len(c.get("/health").json()["deployments"]) == 2)

        file.path.write_text("this is not TOML [")
        time.sleep(0.3)  # a broken file is logged and ignored: the models stay
        assert "routed" in ids(client)
        assert client.post("/v1/chat/completions", json=body).status_code == 200
