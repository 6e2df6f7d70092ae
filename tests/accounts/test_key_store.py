from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from autan.accounts.api_key import KEY_PREFIX, SpendLimit, hash_secret
from autan.accounts.audit_log import Actor, AuditLog
from autan.accounts.key_store import KeyLimits, KeyStore
from autan.accounts.workspace_store import WorkspaceStore
from autan.errors import Conflict, InvalidRequest, NotFound
from autan.storage.database import Database
from autan.storage.tables import ApiKeyRow, utcnow

CLI = Actor.command_line()


def test_the_secret_is_shown_once_and_only_its_hash_is_stored(db: Database) -> None:
    workspace = WorkspaceStore(db).default()
    keys = KeyStore(db)
    key, secret = keys.create(workspace_id=workspace.id, actor=CLI, name="ci")
    assert secret.startswith(KEY_PREFIX) and len(secret) > 40
    assert key.hidden_key.startswith(secret[:12]) and key.hidden_key.endswith(secret[-4:])
    with db.session() as session:
        row = session.scalars(select(ApiKeyRow)).one()
    assert row.key_hash == hash_secret(secret)
    assert secret not in {str(v) for v in vars(row).values()}
    assert keys.find(secret) == key
    assert keys.find(secret + "x") is None


def test_a_found_key_carries_its_workspace_spend_limit_as_it_is_now(db: Database) -> None:
    workspaces = WorkspaceStore(db)
    workspace = workspaces.default()
    keys = KeyStore(db)
    _, secret = keys.create(workspace_id=workspace.id, actor=CLI)
    found = keys.find(secret)
    assert found is not None and found.workspace_spend == SpendLimit(None)
    workspaces.set_spend_limit(workspace.id, 12.5, actor=CLI)
    found = keys.find(secret)
    assert found is not None and found.workspace_spend == SpendLimit(12.5)


def test_limits_models_and_expiry_round_trip(db: Database) -> None:
    workspace = WorkspaceStore(db).default()
    keys = KeyStore(db)
    expires = utcnow().replace(microsecond=0) + timedelta(days=3)
    _, secret = keys.create(
        workspace_id=workspace.id,
        actor=CLI,
        limits=KeyLimits(models=("fake-model",), requests_per_minute=10, tokens_per_minute=99),
        expires_at=expires,
    )
    found = keys.find(secret)
    assert found is not None
    assert found.models == ("fake-model",)
    assert (found.requests_per_minute, found.tokens_per_minute) == (10, 99)
    assert found.expires_at == expires
    assert found.allows("fake-model") and not found.allows("other")
    assert found.usable_at(utcnow()) and not found.usable_at(expires)


def test_revoke_is_seen_by_the_next_lookup_and_audited(db: Database) -> None:
    workspace = WorkspaceStore(db).default()
    keys = KeyStore(db)
    key, secret = keys.create(workspace_id=workspace.id, actor=CLI, name="temp")
    keys.revoke(key.id, actor=Actor.key("admin-id"))
    found = keys.find(secret)
    assert found is not None and found.revoked_at is not None
    assert keys.list() == []
    assert [k.id for k in keys.list(include_revoked=True)] == [key.id]
    events = [(e.event_type, e.actor.id, e.target_id) for e in AuditLog(db).entries()]
    assert events[0] == ("api_key.delete", "admin-id", key.id)
    assert ("api_key.create", "autan-cli", key.id) in events


def test_list_filters_by_name_or_last_characters(db: Database) -> None:
    workspace = WorkspaceStore(db).default()
    keys = KeyStore(db)
    _, secret = keys.create(workspace_id=workspace.id, actor=CLI, name="Production")
    keys.create(workspace_id=workspace.id, actor=CLI, name="staging")
    assert [k.name for k in keys.list(name="product")] == ["Production"]
    assert [k.name for k in keys.list(name=secret[-4:])] == ["Production"]
    assert len(keys.list(limit=1)) == 1 and len(keys.list(offset=1)) == 1


def test_unknown_ids_and_workspaces_are_not_found(db: Database) -> None:
    keys = KeyStore(db)
    with pytest.raises(NotFound):
        keys.revoke("nope", actor=CLI)
    with pytest.raises(NotFound):
        keys.create(workspace_id="nope", actor=CLI)


def test_has_admin_only_counts_live_admin_keys(db: Database) -> None:
    workspace = WorkspaceStore(db).default()
    keys = KeyStore(db)
    assert not keys.has_admin()
    admin, _ = keys.create(workspace_id=workspace.id, actor=CLI, is_admin=True)
    assert keys.has_admin()
    with db.session() as session, session.begin():  # revoke() refuses the last admin key
        session.get_one(ApiKeyRow, admin.id).revoked_at = utcnow()
    assert not keys.has_admin()


def test_a_key_cannot_be_created_expired(db: Database) -> None:
    workspace = WorkspaceStore(db).default()
    keys = KeyStore(db)
    for past in (utcnow() - timedelta(days=1), utcnow()):
        with pytest.raises(InvalidRequest) as e:
            keys.create(workspace_id=workspace.id, actor=CLI, expires_at=past)
        assert e.value.param == "expiration" and "future" in e.value.message
    assert keys.list() == []


def test_the_last_working_admin_key_cannot_be_revoked(db: Database) -> None:
    workspace = WorkspaceStore(db).default()
    keys = KeyStore(db)
    first, _ = keys.create(workspace_id=workspace.id, actor=CLI, is_admin=True)
    with pytest.raises(Conflict) as e:
        keys.revoke(first.id, actor=CLI)
    assert "last admin key" in e.value.message
    second, _ = keys.create(workspace_id=workspace.id, actor=CLI, is_admin=True)
    keys.revoke(first.id, actor=CLI)
    with pytest.raises(Conflict):
        keys.revoke(second.id, actor=CLI)
    assert [k.id for k in keys.list()] == [second.id]


def test_an_archived_workspace_marks_its_keys_and_takes_no_new_ones(db: Database) -> None:
    workspaces = WorkspaceStore(db)
    keys = KeyStore(db)
    keys.create(workspace_id=workspaces.default().id, actor=CLI, is_admin=True)
    team = workspaces.create("team", actor=CLI)
    _, secret = keys.create(workspace_id=team.id, actor=CLI)
    found = keys.find(secret)
    assert found is not None and not found.workspace_archived
    workspaces.update(team.id, actor=CLI, archived=True)
    found = keys.find(secret)
    assert found is not None and found.workspace_archived
    with pytest.raises(InvalidRequest):
        keys.create(workspace_id=team.id, actor=CLI)


def test_archiving_refuses_the_default_workspace_and_the_last_admin_keys(db: Database) -> None:
    workspaces = WorkspaceStore(db)
    keys = KeyStore(db)
    with pytest.raises(InvalidRequest):
        workspaces.update(workspaces.default().id, actor=CLI, archived=True)
    ops = workspaces.create("ops", actor=CLI)
    keys.create(workspace_id=ops.id, actor=CLI, is_admin=True)
    with pytest.raises(Conflict):
        workspaces.update(ops.id, actor=CLI, archived=True)
    assert not workspaces.get(ops.id).archived
    keys.create(workspace_id=workspaces.default().id, actor=CLI, is_admin=True)
    assert workspaces.update(ops.id, actor=CLI, archived=True).archived


def test_set_expiry_refuses_a_past_date_and_clears(db: Database) -> None:
    store = KeyStore(db)
    workspace = WorkspaceStore(db).default().id
    key, _ = store.create(workspace_id=workspace, actor=Actor.command_line())
    assert store.set_expiry(key.id, datetime(2040, 1, 1), actor=Actor.command_line()).expires_at
    with pytest.raises(InvalidRequest, match="is not in the future"):
        store.set_expiry(key.id, datetime(2001, 1, 1), actor=Actor.command_line())
    assert store.set_expiry(key.id, None, actor=Actor.command_line()).expires_at is None
