"""``/v1/admin/api-keys``: list, create, delete (revoke) API keys. Admin keys only.

Every route is a plain function: FastAPI runs it on its thread pool, so the database reads and
writes never hold the event loop.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

from fastapi import APIRouter, Query

from autan.accounts.api_key import ApiKey
from autan.accounts.audit_log import Actor
from autan.accounts.key_store import KeyLimits
from autan.accounts.workspace import Workspace
from autan.api.deps import AccountsDep, AdminKeyDep, KeyDep
from autan.protocol.admin import (
    ApiKeyCreate,
    ApiKeyDeletedPublic,
    ApiKeyListPublic,
    ApiKeyPublic,
    ApiKeyUpdate,
)
from autan.protocol.fields import Filter, Identifier, Offset

router = APIRouter(tags=["admin"])


def key_public(key: ApiKey, workspace: Workspace | None, secret: str | None = None) -> ApiKeyPublic:
    return ApiKeyPublic(
        key_id=key.id,
        key=secret,
        name=key.name,
        hidden_key=key.hidden_key,
        created_at=key.created_at,
        expiration_date=key.expires_at.date() if key.expires_at else None,
        workspace_id=key.workspace_id,
        workspace_name=workspace.name if workspace else None,
        created_by=key.created_by,
        models=list(key.models) if key.models is not None else None,
        requests_per_minute=key.requests_per_minute,
        tokens_per_minute=key.tokens_per_minute,
        is_admin=key.is_admin,
        revoked_at=key.revoked_at,
        request_log_bodies_days=key.request_log_bodies_days,
    )


@router.get("/v1/admin/api-keys", response_model=ApiKeyListPublic)
def list_api_keys(
    accounts: AccountsDep,
    caller: KeyDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
    name: Filter | None = None,
    workspace_id: Identifier | None = None,
) -> ApiKeyListPublic:
    """API keys that are not revoked; ``name`` matches a name substring or the last 4
    characters of the key, ``workspace_id`` keeps one workspace's. An admin key sees every
    workspace's keys; any other key sees only its own workspace's (never a secret)."""
    if not caller.is_admin:
        workspace_id = caller.workspace_id
    keys = accounts.keys.list(limit=limit, offset=offset, name=name, workspace_id=workspace_id)
    workspaces = {w: accounts.workspaces.get(w) for w in {k.workspace_id for k in keys}}
    return ApiKeyListPublic(keys=[key_public(k, workspaces[k.workspace_id]) for k in keys])


@router.post("/v1/admin/api-keys", response_model=ApiKeyPublic)
def create_api_key(body: ApiKeyCreate, accounts: AccountsDep, admin: AdminKeyDep) -> ApiKeyPublic:
    """A new key. Its secret is in ``key`` in this answer and never again."""
    workspace = (
        accounts.workspaces.get(body.workspace_uuid)
        if body.workspace_uuid
        else accounts.workspaces.default()
    )
    key, secret = accounts.keys.create(
        workspace_id=workspace.id,
        actor=Actor.key(admin.id),
        name=body.name,
        limits=KeyLimits(
            models=tuple(body.models) if body.models is not None else None,
            requests_per_minute=body.requests_per_minute,
            tokens_per_minute=body.tokens_per_minute,
        ),
        # A key expires as its expiration date begins (UTC).
        expires_at=datetime.combine(body.expiration, time()) if body.expiration else None,
        is_admin=body.is_admin,
    )
    return key_public(key, workspace, secret)


@router.delete("/v1/admin/api-keys/{key_id}", response_model=ApiKeyDeletedPublic)
def delete_api_key(
    key_id: Identifier, accounts: AccountsDep, admin: AdminKeyDep
) -> ApiKeyDeletedPublic:
    """Revoke a key: every process refuses it from its next request on."""
    accounts.keys.revoke(key_id, actor=Actor.key(admin.id))
    return ApiKeyDeletedPublic(detail="API key deleted successfully")


@router.patch("/v1/admin/api-keys/{key_id}", response_model=ApiKeyPublic)
def update_api_key(
    key_id: Identifier, body: ApiKeyUpdate, accounts: AccountsDep, admin: AdminKeyDep
) -> ApiKeyPublic:
    """Change a key's limits: only the fields sent change, ``null`` removes one.
    ``models``, ``requests_per_minute``, ``tokens_per_minute``, ``expiration`` (the key
    expires as that date begins, UTC; null: never), and ``request_log_bodies_days`` (how many
    days the request log keeps its bodies: 0 never, null as its workspace says). Every process
    applies the change from its next request on."""
    key = accounts.keys.get(key_id)
    sent = body.model_fields_set
    if "expiration" in sent:
        expires_at = datetime.combine(body.expiration, time()) if body.expiration else None
        key = accounts.keys.set_expiry(key_id, expires_at, actor=Actor.key(admin.id))
    if sent & {"models", "requests_per_minute", "tokens_per_minute"}:
        models = body.models if "models" in sent else key.models
        key = accounts.keys.set_limits(
            key_id,
            KeyLimits(
                models=tuple(models) if models is not None else None,
                requests_per_minute=(
                    body.requests_per_minute
                    if "requests_per_minute" in sent
                    else key.requests_per_minute
                ),
                tokens_per_minute=(
                    body.tokens_per_minute if "tokens_per_minute" in sent else key.tokens_per_minute
                ),
            ),
            actor=Actor.key(admin.id),
        )
    if "request_log_bodies_days" in sent:
        key = accounts.keys.set_bodies_days(
            key_id, body.request_log_bodies_days, actor=Actor.key(admin.id)
        )
    return key_public(key, accounts.workspaces.get(key.workspace_id))
