"""The admin API does not let an admin do what they cannot mean: keep an archived workspace's
keys working, lock everyone out, set a limit in an unknown unit, create an expired key."""

from datetime import timedelta

from autan.storage.tables import utcnow
from tests.api.conftest import Platform
from tests.api.test_auth import CHAT, bearer


def test_an_archived_workspace_s_keys_are_refused_at_once(platform: Platform) -> None:
    admin = bearer(platform.admin_key)
    team = platform.client.post("/v1/admin/workspaces", json={"name": "team"}, headers=admin)
    key = platform.client.post(
        "/v1/admin/api-keys", json={"workspace_uuid": team.json()["uuid"]}, headers=admin
    ).json()
    auth = bearer(key["key"])
    assert platform.client.post("/v1/chat/completions", json=CHAT, headers=auth).is_success
    r = platform.client.delete(f"/v1/admin/workspaces/{team.json()['uuid']}", headers=admin)
    assert r.status_code == 204
    r = platform.client.post("/v1/chat/completions", json=CHAT, headers=auth)
    assert r.status_code == 401 and "archived" in r.json()["message"]
    assert platform.client.get("/v1/models", headers=auth).status_code == 401


def test_the_only_admin_key_cannot_delete_itself(platform: Platform) -> None:
    admin = bearer(platform.admin_key)
    (key,) = platform.accounts.keys.list()
    r = platform.client.delete(f"/v1/admin/api-keys/{key.id}", headers=admin)
    assert r.status_code == 409, r.text
    assert "last admin key" in r.json()["message"]
    assert platform.client.get("/v1/admin/api-keys", headers=admin).status_code == 200
    other = platform.client.post("/v1/admin/api-keys", json={"is_admin": True}, headers=admin)
    r = platform.client.delete(f"/v1/admin/api-keys/{key.id}", headers=admin)
    assert r.status_code == 200, r.text
    assert platform.client.get("/v1/admin/api-keys", headers=admin).status_code == 401
    assert platform.client.get("/v1/admin/api-keys", headers=bearer(other.json()["key"])).is_success


def test_archiving_the_default_workspace_is_refused(platform: Platform) -> None:
    default = platform.accounts.workspaces.default()
    r = platform.client.delete(
        f"/v1/admin/workspaces/{default.id}", headers=bearer(platform.admin_key)
    )
    assert r.status_code == 400, r.text
    assert platform.client.get("/v1/models", headers=bearer(platform.admin_key)).is_success


def test_the_spend_limit_is_a_decimal_amount_in_the_server_currency(platform: Platform) -> None:
    admin = bearer(platform.admin_key)
    r = platform.client.post("/v1/admin/spend-limit", json={"amount": 12.5}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["limits"]["currency"] == "USD"
    assert r.json()["limits"]["completion"]["usage_limit"] == 12.5
    # Whole numbers, as the spec's integer, still work; the currency may be said, if right.
    r = platform.client.post(
        "/v1/admin/spend-limit", json={"amount": 20, "currency": "USD"}, headers=admin
    )
    assert r.json()["limits"]["completion"]["usage_limit"] == 20
    r = platform.client.post(
        "/v1/admin/spend-limit", json={"amount": 20, "currency": "EUR"}, headers=admin
    )
    assert r.status_code == 400 and r.json()["param"] == "currency"
    r = platform.client.post("/v1/admin/spend-limit", json={}, headers=admin)
    assert r.status_code == 400 and r.json()["param"] == "amount"
    r = platform.client.post("/v1/admin/spend-limit", json={"amount": -1}, headers=admin)
    assert r.status_code == 422
    r = platform.client.post(
        "/v1/admin/spend-limit", json={"no_monthly_limit": True}, headers=admin
    )
    assert r.json()["limits"]["completion"]["no_monthly_limit"] is True
    workspaces = platform.client.get("/v1/admin/workspaces", headers=admin).json()["items"]
    assert {w["spend_limit"]["currency"] for w in workspaces} == {"USD"}
    usage = platform.client.get("/v1/admin/usage", headers=admin).json()
    assert (usage["currency"], usage["currency_symbol"]) == ("USD", "$")


def test_zero_tokens_per_minute_is_refused_and_no_limit_is_null(platform: Platform) -> None:
    admin = bearer(platform.admin_key)
    for field in ("tokens_per_minute", "requests_per_minute"):
        r = platform.client.post("/v1/admin/api-keys", json={field: 0}, headers=admin)
        assert r.status_code == 422, r.text
    key, _ = platform.key()
    r = platform.client.get("/v1/admin/rate-limit", params={"key_id": key.id}, headers=admin)
    assert r.json()["tokens_per_minute"] is None and r.json()["requests_per_minute"] is None
    slow, _ = platform.key(rpm=30)
    r = platform.client.get("/v1/admin/rate-limit", params={"key_id": slow.id}, headers=admin)
    assert r.json()["requests_per_second"] == 1  # not 0, which would read as no limit


def test_a_key_cannot_be_created_already_expired(platform: Platform) -> None:
    admin = bearer(platform.admin_key)
    for day in (utcnow().date() - timedelta(days=1), utcnow().date()):
        r = platform.client.post(
            "/v1/admin/api-keys", json={"expiration": day.isoformat()}, headers=admin
        )
        assert r.status_code == 400, r.text
        assert r.json()["param"] == "expiration"
    tomorrow = (utcnow().date() + timedelta(days=1)).isoformat()
    r = platform.client.post("/v1/admin/api-keys", json={"expiration": tomorrow}, headers=admin)
    assert r.status_code == 200 and r.json()["expiration_date"] == tomorrow
