from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from autan.models.registry import ModelRegistry
from tests.api.conftest import local_app
from tests.fakes import FakeLoader, fake_card


def test_list_shows_each_model_once_with_its_aliases(client: TestClient) -> None:
    r = client.get("/v1/models")
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    (card,) = body["data"]
    assert card["id"] == "fake-model" and card["type"] == "base"
    assert card["aliases"] == ["mistral-small-latest"]
    assert card["capabilities"]["completion_chat"] is True
    assert card["max_context_length"] == 512


def test_retrieve_by_alias_and_unknown(client: TestClient) -> None:
    assert client.get("/v1/models/mistral-small-latest").json()["id"] == "fake-model"
    r = client.get("/v1/models/nope")
    assert r.status_code == 404 and r.json()["object"] == "error"


def test_health_reports_engine_counters(client: TestClient) -> None:
    client.post(
        "/v1/chat/completions",
        json={"model": "fake-model", "messages": [{"role": "user", "content": "Hi"}]},
    )
    body = client.get("/health").json()
    assert body["status"] == "ok"
    (model,) = body["models"]
    assert model["id"] == "fake-model" and model["state"] == "loaded"
    assert model["slots"] == model["batch_slots"] == 4
    assert model["running"] == 0 and model["waiting"] == 0
    assert model["admitted"] == model["finished"] == 1
    assert model["generated_tokens"] == len("Hello from autan!")


@pytest.fixture
def two_models(tmp_path: Path) -> Iterator[tuple[FakeLoader, TestClient]]:
    """``small`` (preloaded) and ``code`` (FIM, priced, 8k); the budget holds one of them."""
    loader = FakeLoader(memory_bytes=100)
    cards = [
        fake_card("small", "mistral-small-latest", preload=True),
        fake_card(
            "code",
            "codestral-latest",
            context_length=8192,
            price_input=0.3,
            price_output=0.9,
            capabilities={"completion_fim": True},
        ),
    ]
    app = local_app(lambda: ModelRegistry(cards, loader, max_loaded_memory=150), tmp_path)
    with TestClient(app) as client:
        yield loader, client


def _chat(client: TestClient, model: str) -> str:
    r = client.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "Hi"}], "temperature": 0},
    )
    assert r.status_code == 200, r.text
    content: str = r.json()["choices"][0]["message"]["content"]
    return content


def test_every_declared_model_has_a_card_loaded_or_not(
    two_models: tuple[FakeLoader, TestClient],
) -> None:
    loader, client = two_models
    assert loader.loads == ["small"]
    cards = {c["id"]: c for c in client.get("/v1/models").json()["data"]}
    assert set(cards) == {"small", "code"}
    code = cards["code"]
    assert code["aliases"] == ["codestral-latest"]
    assert code["max_context_length"] == 8192
    caps = code["capabilities"]
    assert caps["completion_fim"] and caps["completion_chat"] and caps["function_calling"]
    assert not caps["vision"] and not caps["fine_tuning"]
    assert client.get("/v1/models/codestral-latest").json()["id"] == "code"
    assert loader.loads == ["small"]  # listing loads nothing


def test_requests_switch_models_within_the_budget_and_health_shows_it(
    two_models: tuple[FakeLoader, TestClient],
) -> None:
    loader, client = two_models
    # each fake model spells its own id
    assert _chat(client, "codestral-latest") == "code"
    assert _chat(client, "mistral-small-latest") == "small"
    assert loader.loads == ["small", "code", "small"]
    assert loader.closed == ["small", "code"]
    body = client.get("/health").json()
    assert body["max_loaded_memory_bytes"] == 150 and body["loaded_memory_bytes"] == 100
    health = {m["id"]: m for m in body["models"]}
    assert health["small"]["state"] == "loaded" and health["small"]["loads"] == 2
    assert health["code"]["state"] == "unloaded" and health["code"]["unloads"] == 1
    assert "slots" not in health["code"]  # no engine counters without an engine


def test_a_stream_holds_its_model_until_it_ends(
    two_models: tuple[FakeLoader, TestClient],
) -> None:
    _, client = two_models
    registry = client.app.state.platform.registry  # type: ignore[attr-defined]
    body = {"model": "small", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")
        assert registry.resolve("small").users == 1
        rest = [line for line in lines if line]
    assert rest[-1] == "data: [DONE]"
    assert registry.resolve("small").users == 0


def test_a_request_to_an_embedding_model_for_chat_is_a_400(tmp_path: Path) -> None:
    cards = [fake_card("chat", preload=True), fake_card("embed", kind="embedding")]
    app = local_app(lambda: ModelRegistry(cards, FakeLoader(), max_loaded_memory=1000), tmp_path)
    with TestClient(app) as client:
        r = client.post(
            "/v1/chat/completions",
            json={"model": "embed", "messages": [{"role": "user", "content": "Hi"}]},
        )
    assert r.status_code == 400
    assert r.json()["message"] == "Model embed (kind 'embedding') cannot serve chat requests"
    assert r.json()["param"] == "model"


def test_health_reports_prefix_cache_hits(client: TestClient) -> None:
    question = "The same long question, asked twice in a row. " * 2
    body = {"model": "fake-model", "messages": [{"role": "user", "content": question}]}
    client.post("/v1/chat/completions", json=body)
    usage = client.post("/v1/chat/completions", json=body).json()["usage"]
    (model,) = client.get("/health").json()["models"]
    assert model["prefix_hits"] == 1
    # the whole prompt came from the first request's KV, with the logits of its last token
    assert model["cached_prompt_tokens"] == usage["prompt_tokens"]
    assert model["prefix_copies"] == 0
