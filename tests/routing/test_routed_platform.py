"""Keys, limits, prices, the ledger and batch jobs apply to routed models as to local ones."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mistralai import Mistral
from sqlalchemy import select

from autan.models.card import ModelCard
from autan.settings import JobsSettings
from autan.storage.tables import UsageRow
from tests.api.conftest import Platform, platform_app
from tests.routing.scripted_upstream import Upstream, scripted_upstream

ASK = {"model": "routed", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50}


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with scripted_upstream() as up:
        yield up


@pytest.fixture
def platform(tmp_path: Path, upstream: Upstream) -> Iterator[Platform]:
    card = ModelCard.model_validate(
        {
            "id": "routed",
            "price_input": 2.0,
            "price_output": 6.0,
            "deployments": [
                {"backend": "openai", "url": f"{upstream.url}/v1", "upstream_model": "up"}
            ],
        }
    )
    yield from platform_app(
        tmp_path, routed=[card], jobs=JobsSettings(poll_seconds=0.02, batch_concurrency=4)
    )


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _rows(platform: Platform) -> list[UsageRow]:
    deadline = time.monotonic() + 5
    while True:
        with platform.accounts.db.session() as session:
            rows = list(session.scalars(select(UsageRow).where(UsageRow.model == "routed")))
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_routed_request_is_metered_priced_and_recorded(
    platform: Platform, upstream: Upstream
) -> None:
    _, secret = platform.key(tpm=1000)
    r = platform.client.post("/v1/chat/completions", json=ASK, headers=_auth(secret))
    assert r.status_code == 200, r.text
    # max_tokens and the prompt were reserved before dispatch, the upstream's usage settled.
    assert int(r.headers["x-ratelimit-remaining-tokens-minute"]) < 1000 - 50
    (row,) = _rows(platform)
    assert (row.prompt_tokens, row.completion_tokens) == (7, 3)  # the upstream's count
    assert row.cost == pytest.approx((7 * 2.0 + 3 * 6.0) / 1e6)
    peek = platform.client.post(
        "/v1/chat/completions", json={**ASK, "max_tokens": 1}, headers=_auth(secret)
    )
    assert int(peek.headers["x-ratelimit-remaining-tokens-minute"]) > 1000 - 50 - 20


def test_a_key_limited_to_other_models_cannot_use_a_routed_one(
    platform: Platform, upstream: Upstream
) -> None:
    _, secret = platform.key(models=("fake-model",))
    r = platform.client.post("/v1/chat/completions", json=ASK, headers=_auth(secret))
    assert r.status_code == 403
    assert upstream.requests == []


def test_a_tokens_limit_refuses_a_routed_request_before_it_is_sent(
    platform: Platform, upstream: Upstream
) -> None:
    _, secret = platform.key(tpm=20)
    first = platform.client.post("/v1/chat/completions", json=ASK, headers=_auth(secret))
    assert first.status_code == 200  # its 10 tokens are spent; 10 of the minute's 20 are left
    r = platform.client.post(
        "/v1/chat/completions", json={**ASK, "max_tokens": 500}, headers=_auth(secret)
    )
    assert r.status_code == 429 and r.json()["code"] == "tokens_rate_limited"
    assert len(upstream.requests) == 1


def test_a_batch_job_on_a_routed_model_runs_through_the_router(
    platform: Platform, upstream: Upstream
) -> None:
    client = Mistral(
        api_key=platform.admin_key, server_url="http://testserver", client=platform.client
    )
    job = client.batch.jobs.create(
        requests=[  # type: ignore[misc]
            {"custom_id": str(i), "body": {"messages": [{"role": "user", "content": "hi"}]}}
            for i in range(4)
        ],
        endpoint="/v1/chat/completions",
        model="routed",
    )
    for _ in range(500):
        job = client.batch.jobs.get(job_id=job.id)
        if job.status not in ("QUEUED", "RUNNING"):
            break
        time.sleep(0.02)
    assert job.status == "SUCCESS" and job.succeeded_requests == 4
    assert len(upstream.requests) == 4
    rows = [r for r in _rows(platform) if r.batch]
    assert len(rows) == 4
    assert all(r.cost == pytest.approx((7 * 2.0 + 3 * 6.0) / 1e6 / 2) for r in rows)
