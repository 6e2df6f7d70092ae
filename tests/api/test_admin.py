"""The admin API: keys, workspaces, limits and the audit log, in Mistral's shapes."""

from tests.api.conftest import Platform
from tests.api.test_auth import CHAT, bearer
from tests.protocol.spec import spec_errors


def test_create_list_and_delete_keys(platform: Platform) -> None:
    admin = bearer(platform.admin_key)
    r = platform.client.post(
        "/v1/admin/api-keys",
        json={
            "name": "ci-runner",
            "expiration": "2999-01-01",
            "models": ["fake-model"],
            "requests_per_minute": 30,
        },
        headers=admin,
    )
    assert r.status_code == 200, r.text
    created = r.json()
    secret = created["key"]
    assert secret.startswith("sk-autan-") and created["hidden_key"].endswith(secret[-4:])
    assert created["expiration_date"] == "2999-01-01"
    assert created["actions"]["delete"] == {"status": "available"}
    assert created["workspace_name"] == "Default Workspace"

    used = platform.client.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
    assert used.headers["x-ratelimit-limit-req-minute"] == "30"

    listed = platform.client.get("/v1/admin/api-keys", headers=admin).json()["keys"]
    assert {k["name"] for k in listed} == {"admin", "ci-runner"}
    assert all(k["key"] is None for k in listed), "a secret is shown only at creation"
    assert [
        k["name"]
        for k in platform.client.get(
            "/v1/admin/api-keys", params={"name": "CI-R"}, headers=admin
        ).json()["keys"]
    ] == ["ci-runner"]

    r = platform.client.delete(f"/v1/admin/api-keys/{created['key_id']}", headers=admin)
    assert r.json() == {"detail": "API key deleted successfully"}
    assert platform.client.get("/v1/models", headers=bearer(secret)).status_code == 401
    assert platform.client.delete("/v1/admin/api-keys/nope", headers=admin).status_code == 404


def test_workspaces_and_their_spend_limits(platform: Platform) -> None:
    admin = bearer(platform.admin_key)
    r = platform.client.post(
        "/v1/admin/workspaces",
        json={"name": "Product", "description": "the product team", "admin_user_id": "x"},
        headers=admin,
    )
    workspace = r.json()
    assert spec_errors("WorkspaceEnrichedOUT", workspace) == []
    assert workspace["raw_roles"] == ["A"]  # the creating key administers it
    assert workspace["spend_limit"] == {
        "value": None,
        "currency": "USD",
        "no_monthly_limit": True,
    }
    page = platform.client.get("/v1/admin/workspaces", headers=admin).json()
    assert page["total"] == 2 and page["object"] == "list"
    assert [w["name"] for w in page["items"]] == ["Default Workspace", "Product"]

    r = platform.client.post(
        "/v1/admin/spend-limit",
        json={"amount": 250, "workspace_id": workspace["uuid"]},
        headers=admin,
    )
    limits = r.json()["limits"]["completion"]
    assert limits["usage_limit"] == 250 and not limits["monthly_limit_reached"]
    assert limits["usage"] == 0

    r = platform.client.patch(
        f"/v1/admin/workspaces/{workspace['uuid']}", json={"name": "Platform"}, headers=admin
    )
    assert r.json()["name"] == "Platform"
    assert r.json()["spend_limit"]["value"] == 250
    r = platform.client.delete(f"/v1/admin/workspaces/{workspace['uuid']}", headers=admin)
    assert r.status_code == 204
    archived = platform.client.get(
        "/v1/admin/workspaces", params={"is_archived": True}, headers=admin
    ).json()
    assert [w["name"] for w in archived["items"]] == ["Platform"]


def test_rate_limit_reports_the_key_limits(platform: Platform) -> None:
    key, _ = platform.key(rpm=120, tpm=5000)
    r = platform.client.get(
        "/v1/admin/rate-limit", params={"key_id": key.id}, headers=bearer(platform.admin_key)
    )
    assert r.json() == {
        "requests_per_second": 2,
        "tokens_limits_by_model": {
            "fake-model": {"tokens_per_minute": 5000, "tokens_per_month": 0}
        },
        "requests_per_minute": 120,
        "tokens_per_minute": 5000,
    }


def test_the_audit_log_says_who_did_what(platform: Platform) -> None:
    admin = bearer(platform.admin_key)
    (admin_key,) = platform.accounts.keys.list()
    created = platform.client.post("/v1/admin/api-keys", json={"name": "tmp"}, headers=admin)
    platform.client.delete(f"/v1/admin/api-keys/{created.json()['key_id']}", headers=admin)
    entries = platform.client.get("/v1/admin/audit-logs", headers=admin).json()
    assert [e["event_type"] for e in entries] == [
        "api_key.delete",
        "api_key.create",
        "admin_api_key.created",
        "workspace.create",
    ]
    deleted = entries[0]
    assert deleted["actor_type"] == "API_KEY"
    assert deleted["actor_metadata"] == {"id": admin_key.id}
    assert deleted["target_type"] == "API_KEY"
    assert deleted["target_metadata"] == {"id": created.json()["key_id"]}
    assert deleted["event_metadata"]["name"] == "tmp"
    only = platform.client.get(
        "/v1/admin/audit-logs",
        params={"event_type": ["api_key.create"], "sort": "ascending"},
        headers=admin,
    ).json()
    assert [e["event_type"] for e in only] == ["api_key.create"]


def test_a_key_s_limits_and_expiry_change_and_hold_at_once(platform: Platform) -> None:
    admin = bearer(platform.admin_key)
    key, secret = platform.key(rpm=30, models=("fake-model",))
    url = f"/v1/admin/api-keys/{key.id}"

    r = platform.client.patch(
        url,
        json={"requests_per_minute": 2, "tokens_per_minute": 5000, "expiration": "2999-01-01"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["requests_per_minute"] == 2 and changed["tokens_per_minute"] == 5000
    assert changed["models"] == ["fake-model"], "a field not sent stays as it was"
    assert changed["expiration_date"] == "2999-01-01"
    used = platform.client.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
    assert used.headers["x-ratelimit-limit-req-minute"] == "2"
    platform.client.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
    third = platform.client.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
    assert third.status_code == 429

    r = platform.client.patch(url, json={"models": ["other-model"]}, headers=admin)
    assert r.json()["models"] == ["other-model"] and r.json()["requests_per_minute"] == 2
    r = platform.client.patch(
        url, json={"requests_per_minute": None, "models": None, "expiration": None}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["requests_per_minute"] is None and r.json()["models"] is None
    assert r.json()["expiration_date"] is None
    assert (
        platform.client.post("/v1/chat/completions", json=CHAT, headers=bearer(secret)).status_code
        == 200
    )

    events = platform.client.get(
        "/v1/admin/audit-logs", params={"event_type": "rate_limit.rule.update"}, headers=admin
    ).json()
    assert len(events) == 3 and {e["target_metadata"]["id"] for e in events} == {key.id}


def test_a_key_s_limits_refuse_bad_values(platform: Platform) -> None:
    admin = bearer(platform.admin_key)
    key, _ = platform.key()
    url = f"/v1/admin/api-keys/{key.id}"
    for body in (
        {"requests_per_minute": 0},
        {"tokens_per_minute": -1},
        {"models": ["x" * 1000]},
        {"rotate": True},
    ):
        r = platform.client.patch(url, json=body, headers=admin)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["object"] == "error"
    r = platform.client.patch(url, json={"expiration": "2000-01-01"}, headers=admin)
    assert r.status_code == 400 and r.json()["param"] == "expiration"
    nope = "/v1/admin/api-keys/00000000-0000-0000-0000-000000000000"
    assert platform.client.patch(nope, json={}, headers=admin).status_code == 404


def test_a_workspace_key_reads_only_its_own_workspace(platform: Platform) -> None:
    admin = bearer(platform.admin_key)
    team = platform.client.post("/v1/admin/workspaces", json={"name": "Team"}, headers=admin).json()
    other = platform.client.post(
        "/v1/admin/workspaces", json={"name": "Other"}, headers=admin
    ).json()
    _, team_secret = platform.key(workspace_id=team["uuid"])
    platform.key(workspace_id=team["uuid"])
    other_key, _ = platform.key(workspace_id=other["uuid"])
    member = bearer(team_secret)

    workspaces = platform.client.get("/v1/admin/workspaces", headers=member).json()
    assert [w["name"] for w in workspaces["items"]] == ["Team"] and workspaces["total"] == 1
    keys = platform.client.get("/v1/admin/api-keys", headers=member).json()["keys"]
    assert len(keys) == 2 and {k["workspace_id"] for k in keys} == {team["uuid"]}
    assert all(k["key"] is None for k in keys)
    asked = platform.client.get(
        "/v1/admin/api-keys", params={"workspace_id": other["uuid"]}, headers=member
    ).json()["keys"]
    assert other_key.id not in {k["key_id"] for k in asked}
    assert platform.client.get("/v1/admin/spend-limit", headers=member).status_code == 200
    r = platform.client.get(
        "/v1/admin/spend-limit", params={"workspace_id": other["uuid"]}, headers=member
    )
    assert r.status_code == 403
    # Read-only: changing anything stays an admin's.
    assert (
        platform.client.patch(
            f"/v1/admin/api-keys/{other_key.id}", json={"requests_per_minute": 1}, headers=member
        ).status_code
        == 403
    )
    # The admin key sees every workspace's keys, or one workspace's when asked.
    everything = platform.client.get("/v1/admin/api-keys", headers=admin).json()["keys"]
    assert other_key.id in {k["key_id"] for k in everything}
    only = platform.client.get(
        "/v1/admin/api-keys", params={"workspace_id": other["uuid"]}, headers=admin
    ).json()["keys"]
    assert [k["key_id"] for k in only] == [other_key.id]
