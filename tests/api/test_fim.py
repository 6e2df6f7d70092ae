"""``POST /v1/fim/completions`` over HTTP, on the scripted fake engine."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import local_app
from tests.fakes import ScriptBackend, fake_engine, fake_registry

# Byte vocabulary: FIM tokens are the bytes 1 (prefix), 2 (middle) and 3 (suffix).
FIM = (1, 2, 3)


@pytest.fixture
def fim_client(tmp_path: Path) -> Iterator[tuple[ScriptBackend, TestClient]]:
    engine, backend = fake_engine(b"a + b", fim=FIM)
    with TestClient(local_app(lambda: fake_registry(engine), tmp_path)) as client:
        yield backend, client


def test_fim_completion_is_a_chat_completion(
    fim_client: tuple[ScriptBackend, TestClient],
) -> None:
    _, client = fim_client
    r = client.post(
        "/v1/fim/completions",
        json={"model": "fake-model", "prompt": "def f(a, b): return ", "suffix": "\n"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "fake-model"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "a + b",
        "tool_calls": None,
        "prefix": False,
    }
    # prefix-suffix-middle with the model's tokens: 1 + 20 prompt bytes + 3 + "\n" + 2
    assert body["usage"]["prompt_tokens"] == 1 + 20 + 1 + 1 + 1


def test_fim_stream_ends_with_usage_and_done(fim_client: tuple[ScriptBackend, TestClient]) -> None:
    _, client = fim_client
    with client.stream(
        "POST",
        "/v1/fim/completions",
        json={"model": "fake-model", "prompt": "x = ", "stream": True, "stop": "+"},
    ) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"]["content"] or "" for c in chunks)
    assert text == "a "
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 3  # "+" was generated, then cut


def test_fim_on_a_model_without_fim_tokens_is_a_400(client: TestClient) -> None:
    r = client.post("/v1/fim/completions", json={"model": "fake-model", "prompt": "x"})
    assert r.status_code == 400
    assert r.json()["param"] == "model" and "fill-in-the-middle" in r.json()["message"]


def test_fim_rejects_bad_fields(fim_client: tuple[ScriptBackend, TestClient]) -> None:
    _, client = fim_client
    for extra in ({"temperature": 1.6}, {"min_tokens": -1}, {"messages": []}):
        r = client.post("/v1/fim/completions", json={"model": "fake-model", "prompt": "x", **extra})
        assert r.status_code == 422, extra
    r = client.post("/v1/fim/completions", json={"model": "nope", "prompt": "x"})
    assert r.status_code == 404
