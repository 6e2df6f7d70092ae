"""``/v1/embeddings`` with keys: the key's models, tokens per minute and its workspace's spend
limit hold, and each request leaves a usage record with its model and input tokens."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from autan.accounts.audit_log import Actor
from autan.accounts.prices import Price, StaticPrices
from autan.embeddings.service import EmbeddingService
from tests.api.conftest import Platform, platform_app
from tests.api.test_auth import bearer
from tests.databases import database_url
from tests.embeddings.fake_model import FakeEmbedder

# One currency unit per input token, so costs are token counts.
PRICES = StaticPrices({"fake-embed": Price(input=1_000_000.0)})
EMBED = {"model": "mistral-embed", "input": ["hello there", "general kenobi you are"]}
TOKENS = 4 + 6  # words + [CLS] and [SEP], per text


@pytest.fixture(params=["sqlite", "postgresql"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    service = EmbeddingService(FakeEmbedder(), id="fake-embed", aliases=["mistral-embed"])
    for url in database_url(request.param, tmp_path):
        yield from platform_app(tmp_path, database_url=url, prices=PRICES, embeddings=service)


def test_usage_record_has_the_model_and_the_input_tokens(platform: Platform) -> None:
    key, secret = platform.key()
    r = platform.client.post("/v1/embeddings", json=EMBED, headers=bearer(secret))
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["prompt_tokens"] == TOKENS
    platform.accounts.usage.flush()
    (line,) = platform.accounts.usage.lines(key_id=key.id)
    assert (line.model, line.prompt_tokens, line.completion_tokens) == ("fake-embed", TOKENS, 0)
    assert line.cost == pytest.approx(TOKENS)


def test_a_key_limited_to_other_models_is_refused(platform: Platform) -> None:
    _, secret = platform.key(models=("fake-model",))
    r = platform.client.post("/v1/embeddings", json=EMBED, headers=bearer(secret))
    assert r.status_code == 403, r.text
    assert r.json()["param"] == "model"
    _, allowed = platform.key(models=("mistral-embed",))
    assert platform.client.post("/v1/embeddings", json=EMBED, headers=bearer(allowed)).is_success


def test_tokens_per_minute_hold_and_unused_tokens_go_back(platform: Platform) -> None:
    # The reservation is a bound: a token per character + 2 a text, at most the model's 12.
    _, secret = platform.key(tpm=40)
    first = platform.client.post("/v1/embeddings", json=EMBED, headers=bearer(secret))
    assert first.status_code == 200, first.text
    assert first.headers["x-ratelimit-remaining-tokens-minute"] == str(40 - 24)
    # The first took its real 10 tokens, not the 24 it reserved: 30 are left, not 16.
    second = platform.client.post("/v1/embeddings", json=EMBED, headers=bearer(secret))
    assert second.status_code == 200, second.text
    assert second.headers["x-ratelimit-remaining-tokens-minute"] == str(30 - 24)
    third = platform.client.post("/v1/embeddings", json=EMBED, headers=bearer(secret))
    assert third.status_code == 429, third.text
    assert third.json()["code"] == "tokens_rate_limited"


def test_the_workspace_spend_limit_holds(platform: Platform) -> None:
    _, secret = platform.key()
    workspace = platform.accounts.workspaces.default()
    platform.accounts.workspaces.set_spend_limit(workspace.id, 5.0, actor=Actor.command_line())
    r = platform.client.post("/v1/embeddings", json=EMBED, headers=bearer(secret))
    assert r.status_code == 429, r.text
    assert r.json()["code"] == "spend_limit_exceeded"


def test_a_failed_request_gives_its_reservation_back(platform: Platform) -> None:
    key, secret = platform.key(tpm=30)
    too_long = {"model": "fake-embed", "input": " ".join(["word"] * 20)}
    r = platform.client.post("/v1/embeddings", json=too_long, headers=bearer(secret))
    assert r.status_code == 400, r.text
    # Its reservation of 12 came back: the 24 of the next one fit in 30 (not in 18).
    r = platform.client.post("/v1/embeddings", json=EMBED, headers=bearer(secret))
    assert r.status_code == 200, r.text
    platform.accounts.usage.flush()
    assert sum(line.prompt_tokens for line in platform.accounts.usage.lines(key_id=key.id)) == 10
