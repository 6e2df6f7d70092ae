import base64
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from autan.embeddings.service import EmbeddingService
from tests.api.conftest import local_app
from tests.embeddings.fake_model import FakeEmbedder
from tests.fakes import fake_engine, fake_registry


@pytest.fixture
def fake() -> FakeEmbedder:
    return FakeEmbedder(dimension=16, max_tokens=12)


@pytest.fixture
def client(fake: FakeEmbedder, tmp_path: Path) -> Iterator[TestClient]:
    engine, _ = fake_engine(b"Hi")
    service = EmbeddingService(fake, id="fake-embed", aliases=["mistral-embed"], max_inputs=4)
    app = local_app(lambda: fake_registry(engine), tmp_path, embeddings=service)
    with TestClient(app) as c:
        yield c


def test_string_input(client: TestClient, fake: FakeEmbedder) -> None:
    r = client.post("/v1/embeddings", json={"model": "mistral-embed", "input": "hello there"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list" and body["model"] == "mistral-embed" and body["id"]
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 0, "total_tokens": 4}
    (item,) = body["data"]
    assert item["object"] == "embedding" and item["index"] == 0
    assert item["embedding"] == pytest.approx(fake.vector("hello there").tolist())


def test_list_input_with_int8_and_a_shorter_dimension(client: TestClient) -> None:
    r = client.post(
        "/v1/embeddings",
        json={
            "model": "fake-embed",
            "input": ["a", "b c"],
            "output_dimension": 4,
            "output_dtype": "int8",
        },
    )
    assert r.status_code == 200, r.text
    rows = [d["embedding"] for d in r.json()["data"]]
    assert [len(row) for row in rows] == [4, 4]
    assert all(isinstance(x, int) and -128 <= x <= 127 for row in rows for x in row)
    assert r.json()["usage"]["total_tokens"] == 3 + 4


def test_base64_is_the_little_endian_float32_vector(client: TestClient, fake: FakeEmbedder) -> None:
    r = client.post(
        "/v1/embeddings",
        json={"model": "fake-embed", "input": ["x"], "encoding_format": "base64"},
    )
    (item,) = r.json()["data"]
    decoded = np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
    np.testing.assert_array_equal(decoded, fake.vector("x"))


def test_openai_fields_are_accepted(client: TestClient) -> None:
    r = client.post(
        "/v1/embeddings",
        json={"model": "fake-embed", "input": "x", "dimensions": 3, "user": "u1"},
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["data"][0]["embedding"]) == 3


def test_unknown_model_is_404_in_the_envelope(client: TestClient) -> None:
    r = client.post("/v1/embeddings", json={"model": "fake-model", "input": "x"})
    assert r.status_code == 404
    body = r.json()
    assert body["object"] == "error" and body["code"] == "model_not_found"
    assert body["message"] == "Invalid model: fake-model" and body["param"] == "model"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"input": []}, "at least one text"),
        ({"input": ["ok", ""]}, "Input 1 is empty"),
        ({"input": ["a"] * 5}, "at most 4"),
        ({"input": ["fine", "w " * 11]}, "Input 1 contains 13 tokens"),
        ({"input": "x", "output_dimension": 17}, "larger than the model's 16 dimensions"),
    ],
)
def test_bad_input_is_400_with_a_clear_message(
    client: TestClient, body: dict[str, object], says: str
) -> None:
    r = client.post("/v1/embeddings", json={"model": "fake-embed", **body})
    assert r.status_code == 400, r.text
    error = r.json()
    assert error["object"] == "error" and error["type"] == "invalid_request_error"
    assert says in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"input": "x", "output_dimension": 0},
        {"input": "x", "output_dtype": "float16"},
        {"input": "x", "encoding_format": "hex"},
        {"input": [1, 2]},
        {"input": "x", "truncate": True},
        {},
    ],
)
def test_schema_errors_are_422(client: TestClient, body: dict[str, object]) -> None:
    r = client.post("/v1/embeddings", json={"model": "fake-embed", **body})
    assert r.status_code == 422, r.text
    assert r.json()["object"] == "error"


def test_models_lists_the_embedding_card_after_the_chat_models(client: TestClient) -> None:
    chat, embed = client.get("/v1/models").json()["data"]
    assert chat["id"] == "fake-model"
    assert embed["id"] == "fake-embed" and embed["aliases"] == ["mistral-embed"]
    assert not any(embed["capabilities"].values())
    assert embed["max_context_length"] == 12
    assert client.get("/v1/models/mistral-embed").json()["id"] == "fake-embed"


def test_without_an_embedding_model_the_endpoint_404s(tmp_path: Path) -> None:
    engine, _ = fake_engine(b"Hi")
    with TestClient(local_app(lambda: fake_registry(engine), tmp_path)) as c:
        r = c.post("/v1/embeddings", json={"model": "mistral-embed", "input": "x"})
        assert r.status_code == 404 and r.json()["code"] == "model_not_found"
        assert [m["id"] for m in c.get("/v1/models").json()["data"]] == ["fake-model"]
