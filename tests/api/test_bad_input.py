"""Input the databases cannot take (a NUL, text longer than its column, numbers past a
column's range or past 64 bits) is a 4xx in the Mistral envelope, on SQLite and PostgreSQL
alike, on every list route and every route that stores or looks up what it is sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from autan.api.app import create_app
from autan.platform import Platform as AppPlatform
from autan.settings import FilesSettings, Settings
from tests.api.conftest import Platform, platform_app
from tests.databases import database_url
from tests.fakes import fake_engine, fake_registry

HUGE = str(10**20)


@pytest.fixture(params=["sqlite", "postgresql"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    for url in database_url(request.param, tmp_path):
        yield from platform_app(tmp_path, database_url=url, files=FilesSettings())


def refused(r: httpx.Response) -> dict[str, Any]:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    body: dict[str, Any] = r.json()
    assert body["object"] == "error" and body["type"] == "invalid_request_error", body
    return body


def auth(platform: Platform) -> dict[str, str]:
    return {"Authorization": f"Bearer {platform.admin_key}"}


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/files?page={HUGE}",
        f"/v1/batch/jobs?page={HUGE}",
        f"/v1/admin/api-keys?offset={HUGE}",
        f"/v1/admin/workspaces?page={HUGE}",
        "/v1/files?page=2147483648",
    ],
)
def test_pages_and_offsets_past_the_databases_range_are_refused(
    platform: Platform, path: str
) -> None:
    refused(platform.client.get(path, headers=auth(platform)))


def test_a_page_just_inside_the_range_is_an_empty_page(platform: Platform) -> None:
    r = platform.client.get("/v1/files?page=2147483647&page_size=1000", headers=auth(platform))
    assert r.status_code == 200 and r.json()["data"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/files?search=a%00b"),
        ("GET", "/v1/files?purpose=%00"),
        ("GET", "/v1/files?mimetypes=%00"),
        ("GET", "/v1/files/abc%00"),
        ("DELETE", "/v1/files/abc%00"),
        ("GET", "/v1/files/abc%00/url"),
        ("GET", "/v1/files/abc%00/content"),
        ("GET", "/v1/batch/jobs?model=%00"),
        ("GET", "/v1/batch/jobs?status=%00"),
        ("GET", "/v1/batch/jobs?team=a%00"),  # a metadata filter
        ("GET", "/v1/batch/jobs/abc%00"),
        ("POST", "/v1/batch/jobs/abc%00/cancel"),
        ("GET", "/v1/admin/api-keys?name=%00"),
        ("DELETE", "/v1/admin/api-keys/abc%00"),
        ("GET", "/v1/admin/workspaces?search=%00"),
        ("DELETE", "/v1/admin/workspaces/abc%00"),
        ("GET", "/v1/admin/audit-logs?event_type=%00"),
        ("GET", "/v1/admin/usage?workspace_id=%00"),
        ("GET", "/v1/admin/spend-limit?workspace_id=%00"),
        ("GET", "/v1/admin/rate-limit?key_id=%00"),
    ],
)
def test_a_nul_in_a_filter_or_a_path_id_is_refused(
    platform: Platform, method: str, path: str
) -> None:
    refused(platform.client.request(method, path, headers=auth(platform)))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/admin/api-keys", {"name": "a\x00b"}),
        ("/v1/admin/api-keys", {"name": "n" * 256}),
        ("/v1/admin/api-keys", {"requests_per_minute": 2**40}),
        ("/v1/admin/api-keys", {"tokens_per_minute": 2**31}),
        ("/v1/admin/api-keys", {"models": ["m\x00"]}),
        ("/v1/admin/api-keys", {"workspace_uuid": "\x00"}),
        ("/v1/admin/workspaces", {"name": "w\x00"}),
        ("/v1/admin/workspaces", {"name": "w" * 256}),
        ("/v1/admin/workspaces", {"name": "w", "description": "d\x00"}),
        ("/v1/admin/spend-limit", {"amount": 10**400}),
        ("/v1/admin/spend-limit", {"amount": -1}),
        ("/v1/admin/spend-limit", {"amount": 1, "workspace_id": "\x00"}),
        ("/v1/batch/jobs", {"endpoint": "/v1/chat/completions", "model": "m\x00", "requests": []}),
        ("/v1/batch/jobs", {"endpoint": "/v1/chat/completions", "input_files": ["\x00"]}),
        (
            "/v1/batch/jobs",
            {"endpoint": "/v1/chat/completions", "requests": [], "metadata": {"k": "\x00"}},
        ),
        (
            "/v1/batch/jobs",
            {"endpoint": "/v1/chat/completions", "requests": [{"custom_id": "\x00", "body": {}}]},
        ),
        (
            "/v1/batch/jobs",
            {
                "endpoint": "/v1/chat/completions",
                "requests": [{"custom_id": "c" * 513, "body": {}}],
            },
        ),
    ],
)
def test_bodies_the_columns_cannot_hold_are_refused(
    platform: Platform, path: str, body: dict[str, Any]
) -> None:
    refused(platform.client.post(path, json=body, headers=auth(platform)))


def test_a_lone_surrogate_is_refused(platform: Platform) -> None:
    body = b'{"name": "a\\ud800b"}'
    r = platform.client.post(
        "/v1/admin/workspaces",
        content=body,
        headers={**auth(platform), "Content-Type": "application/json"},
    )
    refused(r)


def test_a_nul_in_a_workspace_update_is_refused(platform: Platform) -> None:
    workspace = platform.client.post(
        "/v1/admin/workspaces", json={"name": "w"}, headers=auth(platform)
    ).json()
    r = platform.client.patch(
        f"/v1/admin/workspaces/{workspace['uuid']}", json={"name": "\x00"}, headers=auth(platform)
    )
    refused(r)


@pytest.mark.parametrize(
    "query", ["year=1&month=1", "year=0&month=5", "year=9999&month=12", "month=13", "year=x"]
)
def test_usage_of_a_month_outside_the_calendar_is_400(platform: Platform, query: str) -> None:
    r = platform.client.get(f"/v1/admin/usage?{query}", headers=auth(platform))
    assert r.status_code == 400
    refused(r)


def test_usage_of_the_first_and_last_months_served(platform: Platform) -> None:
    for query in ("year=1970&month=1", "year=9998&month=12"):
        r = platform.client.get(f"/v1/admin/usage?{query}", headers=auth(platform))
        assert r.status_code == 200, r.text


def test_names_at_the_column_length_are_kept(platform: Platform) -> None:
    r = platform.client.post(
        "/v1/admin/api-keys",
        json={"name": "n" * 255, "requests_per_minute": 2**31 - 1},
        headers=auth(platform),
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "n" * 255


@pytest.fixture(params=["sqlite", "postgresql"])
def fine_tuning_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """Fine-tuning's routes on a fake engine (``--no-auth``): only its list is asked for."""
    engine, _ = fake_engine(b"hi")
    for url in database_url(request.param, tmp_path):
        settings = Settings(data_dir=tmp_path, database_url=url, no_auth=True)
        app = create_app(lambda s=settings: AppPlatform.open(s, fake_registry(engine)))
        with TestClient(app) as client:
            yield client


@pytest.mark.parametrize("query", [f"page={HUGE}", "suffix=%00", "model=%00"])
def test_the_fine_tuning_job_list_refuses_them_too(
    fine_tuning_client: TestClient, query: str
) -> None:
    refused(fine_tuning_client.get(f"/v1/fine_tuning/jobs?{query}"))
    assert fine_tuning_client.get("/v1/fine_tuning/jobs?page=3").json()["data"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/fine_tuning/jobs/abc%00"),
        ("POST", "/v1/fine_tuning/jobs/abc%00/start"),
        ("POST", "/v1/fine_tuning/jobs/abc%00/cancel"),
        ("POST", "/v1/fine_tuning/models/ft:abc%00/archive"),
        ("DELETE", "/v1/fine_tuning/models/ft:abc%00/archive"),
        ("GET", "/v1/models/ft:abc%00"),
        ("DELETE", "/v1/models/ft:abc%00"),
    ],
)
def test_a_nul_in_a_fine_tuning_or_model_id_is_refused(
    fine_tuning_client: TestClient, method: str, path: str
) -> None:
    refused(fine_tuning_client.request(method, path))
