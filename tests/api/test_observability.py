"""The request log through the observability API: recorded, searched, exported, and each key
kept to its own workspace, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autan.accounts.audit_log import Actor
from autan.storage.request_log_tables import RequestLogRow
from tests.api.conftest import Platform, platform_app
from tests.api.test_auth import CHAT, bearer
from tests.databases import database_url

EVENTS = "/v1/observability/chat-completion-events"
FIELDS = "/v1/observability/chat-completion-fields"


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    for url in database_url(request.param, tmp_path):
        yield from platform_app(tmp_path, database_url=url)


def _search(platform: Platform, secret: str, filters: Any = None, **params: Any) -> dict[str, Any]:
    r = platform.client.post(
        f"{EVENTS}/search",
        json={"search_params": {"filters": filters}},
        params=params,
        headers=bearer(secret),
    )
    assert r.status_code == 200, r.text
    return r.json()["completion_events"]  # type: ignore[no-any-return]


def _chat(platform: Platform, secret: str, **body: Any) -> Any:
    r = platform.client.post("/v1/chat/completions", json={**CHAT, **body}, headers=bearer(secret))
    assert r.status_code == 200, r.text
    return r


def test_a_completion_is_recorded_without_its_bodies_by_default(served: Platform) -> None:
    key, secret = served.key()
    reply = _chat(served, secret, max_tokens=4)
    request_id = reply.headers["x-request-id"]
    (event,) = _search(
        served, secret, {"field": "endpoint", "op": "eq", "value": "/v1/chat/completions"}
    )["results"]
    assert event["event_id"] == event["correlation_id"] == request_id
    fields = event["extra_fields"]
    assert fields["api_key_id"] == key.id and fields["model"] == "fake-model"
    assert fields["status"] == 200 and fields["finish_reason"] in ("stop", "length")
    assert event["nb_input_tokens"] == reply.json()["usage"]["prompt_tokens"]
    assert event["nb_output_tokens"] == reply.json()["usage"]["completion_tokens"]
    assert fields["latency_ms"] > 0 and fields["ttft_ms"] is not None
    assert fields["ttft_ms"] <= fields["latency_ms"] and fields["deployment"] is None
    assert 0 <= fields["queue_ms"] <= fields["ttft_ms"]
    full = served.client.get(f"{EVENTS}/{request_id}", headers=bearer(secret)).json()
    assert full["request_messages"] == full["response_messages"] == []
    assert full["nb_messages"] == 1


def test_bodies_are_kept_where_the_workspace_or_the_key_turns_them_on(served: Platform) -> None:
    admin = bearer(served.admin_key)
    workspace = served.accounts.workspaces.create("kept", actor=Actor.command_line())
    _, kept = served.key(workspace_id=workspace.id)
    refusing, refused = served.key(workspace_id=workspace.id)
    _, other = served.key()
    r = served.client.patch(
        f"/v1/admin/workspaces/{workspace.id}", json={"request_log_bodies_days": 7}, headers=admin
    )
    assert r.status_code == 200 and r.json()["request_log_bodies_days"] == 7
    r = served.client.patch(
        f"/v1/admin/api-keys/{refusing.id}", json={"request_log_bodies_days": 0}, headers=admin
    )
    assert r.status_code == 200 and r.json()["request_log_bodies_days"] == 0
    ids = {}
    for name, secret in (("kept", kept), ("refused", refused), ("other", other)):
        ids[name] = _chat(served, secret, max_tokens=4).headers["x-request-id"]
    with served.client.stream(
        "POST", "/v1/chat/completions", json={**CHAT, "stream": True}, headers=bearer(kept)
    ) as r:
        streamed_text = "".join(
            json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
            for line in r.iter_lines()
            if line.startswith("data: {")
        )
        ids["stream"] = r.headers["x-request-id"]
    events = {
        name: served.client.get(f"{EVENTS}/{event_id}", headers=admin).json()
        for name, event_id in ids.items()
    }
    assert events["kept"]["request_messages"] == [{"role": "user", "content": "Hi"}]
    (reply,) = events["kept"]["response_messages"]
    assert reply["role"] == "assistant" and reply["content"]
    assert events["stream"]["response_messages"][0]["content"] == streamed_text
    assert events["stream"]["extra_fields"]["stream"] is True
    for name in ("refused", "other"):
        assert events[name]["request_messages"] == events[name]["response_messages"] == []


def test_a_key_sees_its_own_workspace_only_and_the_admin_sees_all(served: Platform) -> None:
    workspace = served.accounts.workspaces.create("other", actor=Actor.command_line())
    _, mine = served.key()
    _, theirs = served.key(workspace_id=workspace.id)
    my_id = _chat(served, mine).headers["x-request-id"]
    their_id = _chat(served, theirs).headers["x-request-id"]
    seen = {e["event_id"] for e in _search(served, mine)["results"]}
    assert my_id in seen and their_id not in seen
    r = served.client.get(f"{EVENTS}/{their_id}", headers=bearer(mine))
    assert r.status_code == 404 and r.headers["x-request-id"]
    assert r.json()["detail"]["error_code"] == "SEARCH_NOT_FOUND"
    ids = served.client.post(
        f"{EVENTS}/search-ids", json={"search_params": {"filters": None}}, headers=bearer(theirs)
    ).json()["completion_event_ids"]
    assert their_id in ids and my_id not in ids
    export = served.client.get(f"{EVENTS}/export", headers=bearer(theirs)).text
    assert their_id in export and my_id not in export
    everyone = {e["event_id"] for e in _search(served, served.admin_key, page_size=100)["results"]}
    assert {my_id, their_id} <= everyone


def test_filters_by_time_model_key_status_and_latency_and_pages(served: Platform) -> None:
    key, secret = served.key()
    for _ in range(3):
        _chat(served, secret, max_tokens=2)
    bad = served.client.post(
        "/v1/chat/completions", json={**CHAT, "model": "nope"}, headers=bearer(secret)
    )
    assert bad.status_code >= 400
    chats = {"field": "endpoint", "op": "eq", "value": "/v1/chat/completions"}
    ok = _search(served, secret, {"AND": [chats, {"field": "status", "op": "lt", "value": 400}]})
    assert len(ok["results"]) == 3
    failed = _search(
        served, secret, {"AND": [chats, {"field": "status", "op": "gte", "value": 400}]}
    )
    (event,) = failed["results"]
    assert event["correlation_id"] == bad.headers["x-request-id"]
    assert event["extra_fields"]["error_code"] == bad.json()["code"]
    by_key = {"field": "api_key_id", "op": "includes", "value": [key.id]}
    slow = {"field": "latency_ms", "op": "gt", "value": 1e9}
    assert _search(served, secret, {"AND": [by_key, slow]})["results"] == []
    future = {"field": "created_at", "op": "gt", "value": "2999-01-01T00:00:00Z"}
    assert _search(served, secret, future)["results"] == []
    model = {"field": "model", "op": "eq", "value": "fake-model"}
    first = _search(served, secret, model, page_size=2)
    assert len(first["results"]) == 2 and first["cursor"]
    second = _search(served, secret, model, page_size=2, cursor=first["cursor"])
    assert len(second["results"]) == 1 and second["cursor"] is None
    seen = [e["event_id"] for e in first["results"] + second["results"]]
    assert len(set(seen)) == 3


def test_bad_filters_are_a_400_in_both_envelopes(served: Platform) -> None:
    _, secret = served.key()
    for filters in (
        {"field": "nope", "op": "eq", "value": 1},
        {"field": "status", "op": "eq", "value": "two hundred"},
        {"field": "stream", "op": "contains", "value": "x"},
        {"field": "created_at", "op": "gt", "value": "yesterday"},
    ):
        r = served.client.post(
            f"{EVENTS}/search", json={"search_params": {"filters": filters}}, headers=bearer(secret)
        )
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["object"] == "error" and body["request_id"] == r.headers["x-request-id"]
        assert body["detail"]["error_code"] == "SEARCH_BAD_REQUEST"
    r = served.client.post(f"{EVENTS}/search", json={}, headers=bearer(secret))
    assert r.status_code == 422 and r.json()["detail"]["error_code"] == "VALIDATION_ERROR"


def test_fields_options_and_counts(served: Platform) -> None:
    _, secret = served.key()
    _chat(served, secret)
    served.client.get("/v1/models", headers=bearer(secret))
    fields = served.client.get(FIELDS, headers=bearer(secret)).json()
    names = {f["name"]: f for f in fields["field_definitions"]}
    assert {"model", "status", "latency_ms", "created_at", "api_key_id"} <= set(names)
    assert "gte" in names["latency_ms"]["supported_operators"]
    options = served.client.get(
        f"{FIELDS}/endpoint/options", params={"operator": "eq"}, headers=bearer(secret)
    ).json()["options"]
    assert {"/v1/chat/completions", "/v1/models"} <= set(options)
    counts = served.client.post(
        f"{FIELDS}/endpoint/options-counts",
        json={"filter_params": {"filters": {"field": "status", "op": "eq", "value": 200}}},
        headers=bearer(secret),
    ).json()["counts"]
    assert {"value": "/v1/chat/completions", "count": 1} in counts
    unknown = served.client.get(
        f"{FIELDS}/nope/options", params={"operator": "eq"}, headers=bearer(secret)
    )
    assert unknown.status_code == 404


def test_export_as_csv_and_jsonl(served: Platform) -> None:
    key, secret = served.key()
    _, other = served.key()
    _chat(served, secret, max_tokens=3)
    _chat(served, other, max_tokens=3)
    admin = bearer(served.admin_key)
    r = served.client.get(
        f"{EVENTS}/export",
        params={"format": "csv", "key_id": key.id, "status": 200, "model": "fake-model"},
        headers=admin,
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["api_key_id"] for row in rows] == [key.id]
    assert rows[0]["endpoint"] == "/v1/chat/completions" and float(rows[0]["latency_ms"]) > 0
    r = served.client.get(
        f"{EVENTS}/export",
        params={"format": "jsonl", "since": "2000-01-01T00:00:00", "min_latency_ms": 0},
        headers=admin,
    )
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert {line["api_key_id"] for line in lines if line["model"]} >= {key.id}
    assert all("request_messages" not in line for line in lines)


def test_without_keys_every_request_is_in_the_one_local_workspace(client: TestClient) -> None:
    reply = client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 3})
    r = client.post(f"{EVENTS}/search", json={"search_params": {"filters": None}})
    (event,) = [e for e in r.json()["completion_events"]["results"] if e["extra_fields"]["model"]]
    assert event["event_id"] == reply.headers["x-request-id"]
    assert event["extra_fields"]["workspace_id"] == "local"
    assert event["extra_fields"]["api_key_id"] is None
    assert event["nb_output_tokens"] == reply.json()["usage"]["completion_tokens"]


STATS = "/v1/observability/stats"


def _row(at: datetime, latency: float, status: int = 200, workspace: str | None = None) -> Any:
    return RequestLogRow(
        id=str(uuid.uuid4()),
        request_id=str(uuid.uuid4()),
        created_at=at,
        workspace_id=workspace,
        method="POST",
        endpoint="/v1/chat/completions",
        model="fake-model",
        status=status,
        prompt_tokens=10,
        completion_tokens=5,
        cost=0.5,
        ttft_ms=None if status >= 400 else latency / 2,
        latency_ms=latency,
    )


def test_stats_by_hour_and_day_sum_and_rank_in_the_database(served: Platform) -> None:
    _, secret = served.key()
    workspace = served.accounts.workspaces.default().id
    ten = datetime(2026, 3, 1, 10)
    rows = [
        _row(ten + timedelta(minutes=i), 10.0 * (i + 1), workspace=workspace) for i in range(20)
    ]
    rows.append(_row(ten + timedelta(minutes=30), 5.0, status=500, workspace=workspace))
    rows.append(_row(ten + timedelta(hours=3), 70.0, workspace=workspace))
    rows.append(_row(ten + timedelta(days=1), 7.0, workspace="another"))
    with served.accounts.db.session() as session:
        session.add_all(rows)
        session.commit()
    r = served.client.get(
        STATS,
        params={"bucket": "hour", "start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"},
        headers=bearer(secret),
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["bucket"] == "hour" and answer["start"].startswith("2026-03-01T00:00:00")
    first, second = answer["data"]
    assert first["start"].startswith("2026-03-01T10:00:00") and first["requests"] == 21
    assert first["errors"] == 1 and first["prompt_tokens"] == 210
    assert first["completion_tokens"] == 105 and first["cost"] == pytest.approx(10.5)
    # 21 latencies: 5, 10, 20, ... 200; nearest rank 11 and 20.
    assert first["latency_p50_ms"] == 100.0 and first["latency_p95_ms"] == 190.0
    # 20 TTFTs (the failed request has none): 5, 10, ... 100; rank 10.
    assert first["ttft_p50_ms"] == 50.0
    assert second["start"].startswith("2026-03-01T13:00:00") and second["requests"] == 1
    assert second["latency_p50_ms"] == second["latency_p95_ms"] == 70.0
    by_day = served.client.get(
        STATS,
        params={"bucket": "day", "start": "2026-02-20T00:00:00Z", "end": "2026-03-10T00:00:00Z"},
        headers=bearer(served.admin_key),
    ).json()["data"]
    assert [(d["start"][:10], d["requests"]) for d in by_day] == [
        ("2026-03-01", 22),
        ("2026-03-02", 1),
    ]
    mine = served.client.get(
        STATS,
        params={"bucket": "day", "start": "2026-02-20T00:00:00Z", "end": "2026-03-10T00:00:00Z"},
        headers=bearer(secret),
    ).json()["data"]
    assert [d["requests"] for d in mine] == [22]


def test_stats_default_to_the_last_day_and_refuse_unbounded_ranges(served: Platform) -> None:
    _, secret = served.key()
    _chat(served, secret, max_tokens=2)
    r = served.client.get(STATS, headers=bearer(secret))
    assert r.status_code == 200, r.text
    (bucket,) = r.json()["data"]
    assert bucket["requests"] >= 1 and bucket["latency_p50_ms"] > 0
    for params in (
        {"bucket": "hour", "start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
        {"bucket": "day", "start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"start": "2026-03-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"},
        {"bucket": "week"},
    ):
        r = served.client.get(STATS, params=params, headers=bearer(secret))
        assert r.status_code in (400, 422), (params, r.text)
        assert "message" in r.json() or "detail" in r.json()
