"""``GET /v1/admin/audit-logs``: who created, revoked or changed what, when. Admin keys only.

Every route is a plain function: FastAPI runs it on its thread pool, so the database reads and
writes never hold the event loop.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from autan.accounts.audit_log import AuditEntry
from autan.api.deps import AccountsDep, AdminKeyDep
from autan.protocol.admin import AuditLogPublic
from autan.protocol.fields import Filter

router = APIRouter(tags=["admin"])


def _naive_utc(t: datetime | None) -> datetime | None:
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(UTC).replace(tzinfo=None)


def audit_public(entry: AuditEntry) -> AuditLogPublic:
    return AuditLogPublic(
        created_at=entry.created_at.replace(tzinfo=UTC),
        actor_type=entry.actor.type,
        actor_metadata={"id": entry.actor.id or ""},
        event_type=entry.event_type,
        event_metadata={k: str(v) for k, v in entry.details.items()},
        target_type=entry.target_type,
        target_metadata={"id": entry.target_id},
        log_id=entry.id,
        workspace_uuid=entry.workspace_id,
    )


@router.get("/v1/admin/audit-logs", response_model=list[AuditLogPublic])
def audit_logs(
    accounts: AccountsDep,
    _admin: AdminKeyDep,
    actor_type: Annotated[list[Filter] | None, Query()] = None,
    event_type: Annotated[list[Filter] | None, Query()] = None,
    target_type: Annotated[list[Filter] | None, Query()] = None,
    sort: Literal["ascending", "descending"] = "descending",
    after: datetime | None = None,
    before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> list[AuditLogPublic]:
    """Audit entries, newest first unless ``sort=ascending``."""
    entries = accounts.audit.entries(
        event_types=event_type,
        target_types=target_type,
        actor_types=actor_type,
        after=_naive_utc(after),
        before=_naive_utc(before),
        descending=sort == "descending",
        limit=limit,
    )
    return [audit_public(e) for e in entries]
