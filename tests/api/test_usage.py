"""The ledger agrees with what clients were told, on SQLite and on PostgreSQL."""

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from autan.accounts.prices import Price, StaticPrices
from autan.accounts.usage_ledger import UsageLedger
from autan.storage.database import Database
from autan.storage.request_log_tables import UsageDailyRow
from tests.api.conftest import Platform, platform_app
from tests.api.test_auth import CHAT, bearer
from tests.databases import database_url

PRICES = StaticPrices({"fake-model": Price(input=2.0, output=6.0)})


@pytest.fixture(params=["sqlite", "postgresql"])
def priced(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    for url in database_url(request.param, tmp_path):
        yield from platform_app(tmp_path, database_url=url, prices=PRICES)


def _stream_usage(platform: Platform, secret: str, body: dict) -> dict:  # type: ignore[type-arg]
    with platform.client.stream(
        "POST", "/v1/chat/completions", json={**body, "stream": True}, headers=bearer(secret)
    ) as r:
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: {")]
    return json.loads(events[-1])["usage"]  # type: ignore[no-any-return]


def test_usage_totals_equal_the_usage_returned_to_clients(priced: Platform) -> None:
    _, first = priced.key()
    _, second = priced.key()
    told = []
    for i in range(6):
        secret = first if i % 2 else second
        body = {**CHAT, "max_tokens": 3 + i}
        if i % 3 == 0:
            told.append(_stream_usage(priced, secret, body))
        else:
            r = priced.client.post("/v1/chat/completions", json=body, headers=bearer(secret))
            told.append(r.json()["usage"])
    priced.client.get("/v1/models", headers=bearer(first))

    report = priced.client.get("/v1/admin/usage", headers=bearer(priced.admin_key)).json()
    prompt = sum(u["prompt_tokens"] for u in told)
    completion = sum(u["completion_tokens"] for u in told)
    assert report["total_prompt_tokens"] == prompt
    assert report["total_completion_tokens"] == completion
    assert report["total_cost"] == pytest.approx((prompt * 2.0 + completion * 6.0) / 1e6)
    model = report["completion"]["models"]["fake-model"]
    assert sum(e["value"] for e in model["input"]) == prompt
    assert sum(e["value"] for e in model["output"]) == completion
    assert {e["api_key_id"] for e in model["input"]} == {
        k.id for k in priced.accounts.keys.list() if not k.is_admin
    }


def test_every_request_is_recorded_with_its_status_and_nothing_is_lost_at_stop(
    tmp_path: Path,
) -> None:
    for platform in platform_app(tmp_path):
        key, secret = platform.key(rpm=3)
        auth = bearer(secret)
        chat = platform.client.post("/v1/chat/completions", json=CHAT, headers=auth)
        statuses = [platform.client.get("/v1/models", headers=auth).status_code for _ in range(3)]
    # The app has stopped: its lifespan closed the ledger, which wrote what was buffered.
    assert statuses == [200, 200, 429]
    db = Database.open(None, tmp_path)
    try:
        lines = UsageLedger(db).lines(key_id=key.id)
    finally:
        db.close()
    assert sum(line.requests for line in lines) == 4
    (chat_line,) = [line for line in lines if line.model == "fake-model"]
    assert chat_line.prompt_tokens == chat.json()["usage"]["prompt_tokens"]


def test_the_report_counts_inference_apart_from_management_calls_and_errors(
    priced: Platform,
) -> None:
    _, secret = priced.key()
    auth = bearer(secret)
    for _ in range(2):
        assert (
            priced.client.post("/v1/chat/completions", json=CHAT, headers=auth).status_code == 200
        )
    for _ in range(3):
        assert priced.client.get("/v1/models", headers=auth).status_code == 200
    bad = priced.client.post("/v1/chat/completions", json={**CHAT, "model": "nope"}, headers=auth)
    assert bad.status_code == 404
    report = priced.client.get("/v1/admin/usage", headers=bearer(priced.admin_key)).json()
    assert report["requests"] == {"interactive": 2, "batch": 0, "management": 3, "errors": 1}
    (entry,) = report["completion"]["models"]["fake-model"]["input"]
    assert entry["requests"] == 2 and entry["batch"] is False
    assert report["currency"] == "USD"


def test_usage_over_a_date_range_by_workspace_and_kind(platform: Platform) -> None:
    admin = bearer(platform.admin_key)
    workspace = platform.accounts.workspaces.default().id
    days = [date(2025, 12, 31), date(2026, 1, 1), date(2026, 2, 14), date(2026, 3, 1)]
    with platform.accounts.db.session() as session, session.begin():
        for i, day in enumerate(days):
            session.add(
                UsageDailyRow(
                    day=day,
                    workspace_id=workspace,
                    key_id="k",
                    model="fake-model",
                    batch=i % 2 == 1,
                    inference=True,
                    requests=10 + i,
                    errors=0,
                    prompt_tokens=100 * (i + 1),
                    completion_tokens=1,
                    cost=0.5,
                )
            )
    r = platform.client.get(
        "/v1/admin/usage",
        params={"start_date": "2026-01-01", "end_date": "2026-02-14"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    report = r.json()
    entries = report["completion"]["models"]["fake-model"]["input"]
    assert [e["date"] for e in entries] == ["2026-01-01", "2026-02-14"]
    assert {e["workspace_id"] for e in entries} == {workspace}
    assert [e["batch"] for e in entries] == [True, False]
    assert report["total_prompt_tokens"] == 200 + 300
    assert report["requests"]["batch"] == 11 and report["requests"]["interactive"] == 12
    assert report["start_date"].startswith("2026-01-01")
    assert report["end_date"].startswith("2026-02-15")

    for params, param in (
        ({"start_date": "2026-02-01", "end_date": "2026-01-01"}, "end_date"),
        ({"start_date": "2000-01-01", "end_date": "2026-01-01"}, "start_date"),
    ):
        r = platform.client.get("/v1/admin/usage", params=params, headers=admin)
        assert r.status_code == 400 and r.json()["param"] == param, r.text
    r = platform.client.get("/v1/admin/usage", params={"start_date": "soon"}, headers=admin)
    assert r.status_code == 422


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_usage_summary_sums_in_the_database_by_what_is_asked(kind: str, tmp_path: Path) -> None:
    for url in database_url(kind, tmp_path):
        for platform in platform_app(tmp_path, database_url=url):
            _summary_checks(platform)


def _summary_checks(platform: Platform) -> None:
    admin = bearer(platform.admin_key)
    default = platform.accounts.workspaces.default().id
    rows = [
        (date(2026, 1, 1), default, "k1", "m1", False, True, 3),
        (date(2026, 1, 1), default, "k2", "m1", True, True, 5),
        (date(2026, 1, 2), "w2", "k3", "m2", False, True, 7),
        (date(2026, 1, 2), "w2", "k3", "", False, False, 11),
        (date(2026, 3, 1), "w2", "k3", "m2", False, True, 100),
    ]
    with platform.accounts.db.session() as session, session.begin():
        for day, workspace, key, model, batch, inference, requests in rows:
            session.add(
                UsageDailyRow(
                    day=day,
                    workspace_id=workspace,
                    key_id=key,
                    model=model,
                    batch=batch,
                    inference=inference,
                    requests=requests,
                    errors=1,
                    prompt_tokens=10 * requests,
                    completion_tokens=requests,
                    cost=0.25,
                )
            )

    def summary(*group_by: str, **params: str) -> dict:  # type: ignore[type-arg]
        r = platform.client.get(
            "/v1/admin/usage/summary",
            params={
                "start_date": "2026-01-01",
                "end_date": "2026-01-31",
                **params,
                "group_by": list(group_by),
            },
            headers=admin,
        )
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    totals = summary()
    assert totals["data"] == [
        {"requests": 26, "errors": 4, "prompt_tokens": 260, "completion_tokens": 26, "cost": 1.0}
    ]
    assert totals["currency"] == "USD" and totals["end_date"] == "2026-01-31"
    by_kind = {line["kind"]: line["requests"] for line in summary("kind")["data"]}
    assert by_kind == {"interactive": 10, "batch": 5, "management": 11}
    by_day_kind = summary("day", "kind")["data"]
    assert [(x["date"], x["kind"], x["requests"]) for x in by_day_kind] == [
        ("2026-01-01", "batch", 5),
        ("2026-01-01", "interactive", 3),
        ("2026-01-02", "interactive", 7),
        ("2026-01-02", "management", 11),
    ]
    by_workspace = summary("workspace", workspace_id="w2")["data"]
    assert by_workspace == [
        {
            "workspace_id": "w2",
            "requests": 18,
            "errors": 2,
            "prompt_tokens": 180,
            "completion_tokens": 18,
            "cost": 0.5,
        }
    ]
    full = summary("day", "model", "key", "workspace", "kind")["data"]
    assert len(full) == 4 and {x["api_key_id"] for x in full} == {"k1", "k2", "k3"}

    bad = platform.client.get(
        "/v1/admin/usage/summary", params={"group_by": "colour"}, headers=admin
    )
    assert bad.status_code == 422
    _, secret = platform.key()
    assert platform.client.get("/v1/admin/usage/summary", headers=bearer(secret)).status_code == 403
