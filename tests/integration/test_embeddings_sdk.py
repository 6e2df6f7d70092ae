"""``client.embeddings.create`` of the official ``mistralai`` and ``openai`` SDKs, unchanged,
against the real server on the packaged embedding model."""

from __future__ import annotations

import math

import openai
import pytest
from mistralai import Mistral
from mistralai.models import SDKError

from tests.server import Server

pytestmark = pytest.mark.model

TEXTS = [
    "How do I reset my password?",
    "I forgot my password, how can I change it?",
    "The volcano erupted for three days.",
]


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


@pytest.fixture(scope="module")
def mistral(server: Server) -> Mistral:
    return Mistral(api_key="any-key", server_url=server.url)


@pytest.fixture(scope="module")
def oai(server: Server) -> openai.OpenAI:
    return openai.OpenAI(api_key="any-key", base_url=server.v1)


def test_mistral_sdk_embeds_a_list(mistral: Mistral) -> None:
    r = mistral.embeddings.create(model="mistral-embed", inputs=TEXTS)
    assert r.model == "mistral-embed" and r.id
    assert [d.index for d in r.data] == [0, 1, 2]
    vectors = [d.embedding for d in r.data]
    assert all(v is not None and len(v) == 384 for v in vectors)
    assert all(math.isclose(_cosine(v, v), 1.0) for v in vectors)  # type: ignore[arg-type]
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2]) + 0.3  # type: ignore[arg-type]
    assert r.usage.prompt_tokens == r.usage.total_tokens > len(TEXTS) * 2
    assert r.usage.completion_tokens == 0


def test_mistral_sdk_dimension_and_int8(mistral: Mistral) -> None:
    r = mistral.embeddings.create(
        model="all-minilm-l6-v2", inputs="One sentence.", output_dimension=64, output_dtype="int8"
    )
    (item,) = r.data
    assert item.embedding is not None and len(item.embedding) == 64
    assert all(float(x).is_integer() and -128 <= x <= 127 for x in item.embedding)


def test_mistral_sdk_errors(mistral: Mistral) -> None:
    with pytest.raises(SDKError) as e:
        mistral.embeddings.create(model="no-such-model", inputs="x")
    assert e.value.status_code == 404
    with pytest.raises(SDKError) as e:
        mistral.embeddings.create(model="mistral-embed", inputs=["fine", "word " * 300])
    assert e.value.status_code == 400 and "Input 1 contains" in e.value.body


def test_openai_sdk_default_base64_decodes_to_the_float_vectors(
    oai: openai.OpenAI, mistral: Mistral
) -> None:
    # The openai SDK asks for base64 unless told otherwise and decodes float32 itself.
    r = oai.embeddings.create(model="mistral-embed", input=TEXTS)
    assert [len(d.embedding) for d in r.data] == [384, 384, 384]
    floats = mistral.embeddings.create(model="mistral-embed", inputs=TEXTS)
    for got, want in zip(r.data, floats.data, strict=True):
        assert got.embedding == pytest.approx(want.embedding, abs=1e-6)
    assert r.usage.prompt_tokens == floats.usage.prompt_tokens


def test_openai_sdk_dimensions_and_float_format(oai: openai.OpenAI) -> None:
    r = oai.embeddings.create(
        model="all-minilm-l6-v2", input="One sentence.", dimensions=32, encoding_format="float"
    )
    (item,) = r.data
    assert len(item.embedding) == 32
    assert math.isclose(_cosine(item.embedding, item.embedding), 1.0)
    assert math.isclose(sum(x * x for x in item.embedding), 1.0, rel_tol=1e-5)
