"""Who may call what: every /v1 route needs a usable key, admin routes an admin key."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from autan.accounts.audit_log import Actor
from autan.storage.tables import ApiKeyRow, utcnow
from tests.api.conftest import Platform

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "Hi"}]}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_error(r: object, status: int, type_: str) -> None:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert body["object"] == "error" and body["type"] == type_


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/models", None),
        ("GET", "/v1/models/fake-model", None),
        ("POST", "/v1/chat/completions", CHAT),
        ("POST", "/v1/fim/completions", {"model": "fake-model", "prompt": "def"}),
    ],
)
def test_every_v1_route_needs_a_key(
    platform: Platform,
    method: str,
    path: str,
    body: dict | None,  # type: ignore[type-arg]
) -> None:
    r = platform.client.request(method, path, json=body)
    assert_error(r, 401, "authentication_error")
    r = platform.client.request(method, path, json=body, headers=bearer("sk-autan-wrong"))
    assert_error(r, 401, "authentication_error")
    assert r.json()["message"] == "Invalid API key"


def test_health_stays_open_for_load_balancers(platform: Platform) -> None:
    assert platform.client.get("/health").status_code == 200


def test_a_valid_key_is_served(platform: Platform) -> None:
    _, secret = platform.key()
    r = platform.client.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == "Hello from autan!"


def test_a_revoked_key_fails_on_its_very_next_request(platform: Platform) -> None:
    key, secret = platform.key()
    assert platform.client.get("/v1/models", headers=bearer(secret)).status_code == 200
    platform.accounts.keys.revoke(key.id, actor=Actor.command_line())
    r = platform.client.get("/v1/models", headers=bearer(secret))
    assert_error(r, 401, "authentication_error")
    assert "revoked" in r.json()["message"]


def test_an_expired_key_is_refused(platform: Platform) -> None:
    key, secret = platform.key(expires_at=utcnow() + timedelta(days=1))
    with platform.accounts.db.session() as session, session.begin():  # a day later
        session.get_one(ApiKeyRow, key.id).expires_at = utcnow() - timedelta(seconds=1)
    r = platform.client.get("/v1/models", headers=bearer(secret))
    assert_error(r, 401, "authentication_error")
    assert "expired" in r.json()["message"]


def test_a_key_for_another_model_gets_a_403(platform: Platform) -> None:
    _, secret = platform.key(models=("some-other-model",))
    r = platform.client.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
    assert_error(r, 403, "permission_error")
    assert r.json()["param"] == "model"
    r = platform.client.post(
        "/v1/chat/completions", json={**CHAT, "stream": True}, headers=bearer(secret)
    )
    assert_error(r, 403, "permission_error")


def test_a_key_may_name_its_model_by_alias(platform: Platform) -> None:
    _, secret = platform.key(models=("mistral-small-latest",))
    r = platform.client.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/admin/api-keys"),
        ("PATCH", "/v1/admin/api-keys/00000000-0000-0000-0000-000000000000"),
        ("DELETE", "/v1/admin/api-keys/00000000-0000-0000-0000-000000000000"),
        ("POST", "/v1/admin/workspaces"),
        ("DELETE", "/v1/admin/workspaces/00000000-0000-0000-0000-000000000000"),
        ("GET", "/v1/admin/rate-limit"),
        ("POST", "/v1/admin/spend-limit"),
        ("GET", "/v1/admin/usage"),
        ("GET", "/v1/admin/audit-logs"),
    ],
)
def test_admin_routes_need_an_admin_key(platform: Platform, method: str, path: str) -> None:
    _, secret = platform.key()
    r = platform.client.request(method, path, json={}, headers=bearer(secret))
    assert_error(r, 403, "permission_error")
    r = platform.client.request(method, path, json={})
    assert_error(r, 401, "authentication_error")


def test_without_accounts_any_token_works_and_admin_routes_are_closed(client: TestClient) -> None:
    assert client.get("/v1/models", headers=bearer("anything")).status_code == 200
    assert client.get("/v1/models").status_code == 200
    assert_error(client.get("/v1/admin/api-keys"), 403, "permission_error")
