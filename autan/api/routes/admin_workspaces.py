"""``/v1/admin/workspaces``: list, create, update, archive. Admin keys only.

Every route is a plain function: FastAPI runs it on its thread pool, so the database reads and
writes never hold the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from autan.accounts.audit_log import Actor
from autan.accounts.workspace import Workspace
from autan.api.deps import AccountsDep, AdminKeyDep, KeyDep
from autan.protocol.admin import (
    SpendLimitPublic,
    WorkspaceCreate,
    WorkspaceCreatedPublic,
    WorkspaceListPublic,
    WorkspacePublic,
    WorkspaceUpdate,
)
from autan.protocol.fields import Filter, Identifier, PageIndex

router = APIRouter(tags=["admin"])


def workspace_public(workspace: Workspace, currency: str) -> WorkspacePublic:
    return WorkspacePublic(
        uuid=workspace.id,
        name=workspace.name,
        description=workspace.description,
        icon=workspace.icon,
        spend_limit=SpendLimitPublic(
            value=workspace.spend_limit,
            currency=currency,
            no_monthly_limit=workspace.spend_limit is None,
        ),
        is_default=workspace.is_default,
        request_log_bodies_days=workspace.request_log_bodies_days,
        requests_per_minute=workspace.requests_per_minute,
        tokens_per_minute=workspace.tokens_per_minute,
    )


@router.get("/v1/admin/workspaces", response_model=WorkspaceListPublic)
def list_workspaces(
    accounts: AccountsDep,
    caller: KeyDep,
    is_archived: bool = False,
    page: Annotated[PageIndex, Query(gt=0)] = 1,
    page_size: Annotated[int, Query(gt=0, le=1000)] = 25,
    search: Filter | None = None,
) -> WorkspaceListPublic:
    """Workspaces, oldest first; ``search`` matches a name substring. An admin key sees
    them all; any other key sees only its own workspace."""
    accounts.workspaces.default()
    if caller.is_admin:
        total, items = accounts.workspaces.page(
            archived=is_archived, page=page, page_size=page_size, search=search
        )
    else:
        own = accounts.workspaces.get(caller.workspace_id)
        shown = (
            own.archived == is_archived
            and (not search or search.lower() in own.name.lower())
            and page == 1
        )
        total, items = int(shown), [own] if shown else []
    return WorkspaceListPublic(
        total=total,
        items=[workspace_public(w, accounts.settings.currency) for w in items],
        page=page,
        page_size=page_size,
    )


@router.post("/v1/admin/workspaces", response_model=WorkspaceCreatedPublic)
def create_workspace(
    body: WorkspaceCreate, accounts: AccountsDep, admin: AdminKeyDep
) -> WorkspaceCreatedPublic:
    """A new workspace, to group keys and cap their monthly spend."""
    workspace = accounts.workspaces.create(
        body.name, actor=Actor.key(admin.id), description=body.description, icon=body.icon
    )
    return WorkspaceCreatedPublic(**dict(workspace_public(workspace, accounts.settings.currency)))


@router.patch("/v1/admin/workspaces/{workspace_uuid}", response_model=WorkspacePublic)
def update_workspace(
    workspace_uuid: Identifier, body: WorkspaceUpdate, accounts: AccountsDep, admin: AdminKeyDep
) -> WorkspacePublic:
    """Rename a workspace or change its description or icon, how many days the request log
    keeps its requests' bodies (``request_log_bodies_days``; 0: not kept, the default), or its
    ``requests_per_minute`` and ``tokens_per_minute``: limits shared by all its keys, on top
    of each key's own (null: none; a field not sent stays as it was)."""
    sent = body.model_fields_set
    if sent & {"requests_per_minute", "tokens_per_minute"}:
        current = accounts.workspaces.get(workspace_uuid)
        accounts.workspaces.set_rate_limits(
            workspace_uuid,
            requests_per_minute=(
                body.requests_per_minute
                if "requests_per_minute" in sent
                else current.requests_per_minute
            ),
            tokens_per_minute=(
                body.tokens_per_minute if "tokens_per_minute" in sent else current.tokens_per_minute
            ),
            actor=Actor.key(admin.id),
        )
    if "request_log_bodies_days" in body.model_fields_set:
        accounts.workspaces.set_bodies_days(
            workspace_uuid, body.request_log_bodies_days or None, actor=Actor.key(admin.id)
        )
    workspace = accounts.workspaces.update(
        workspace_uuid,
        actor=Actor.key(admin.id),
        name=body.name,
        description=body.description,
        icon=body.icon,
    )
    return workspace_public(workspace, accounts.settings.currency)


@router.delete("/v1/admin/workspaces/{workspace_uuid}", status_code=204)
def archive_workspace(
    workspace_uuid: Identifier, accounts: AccountsDep, admin: AdminKeyDep
) -> Response:
    """Archive a workspace: its keys are refused (401) from the next request on. The default
    workspace (400) and the one holding the last admin keys that work (409) cannot be."""
    accounts.workspaces.update(workspace_uuid, actor=Actor.key(admin.id), archived=True)
    return Response(status_code=204)
