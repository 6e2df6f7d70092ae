from fastapi.testclient import TestClient

from autan.inference.prefix_cache import MIN_PREFILL


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
    assert model["id"] == "fake-model"
    assert model["slots"] == 4 and model["running"] == 0 and model["waiting"] == 0
    assert model["admitted"] == model["finished"] == 1
    assert model["generated_tokens"] == len("Hello from autan!")


def test_health_reports_prefix_cache_hits(client: TestClient) -> None:
    question = "The same long question, asked twice in a row. " * 2
    body = {"model": "fake-model", "messages": [{"role": "user", "content": question}]}
    client.post("/v1/chat/completions", json=body)
    usage = client.post("/v1/chat/completions", json=body).json()["usage"]
    (model,) = client.get("/health").json()["models"]
    assert model["prefix_hits"] == 1
    # the whole prompt but its last MIN_PREFILL tokens came from the first request's KV
    assert model["cached_prompt_tokens"] == usage["prompt_tokens"] - MIN_PREFILL
    assert model["prefix_copies"] == 0
