"""Workspaces in the database: the default one, created at first start, and any others."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from autan.accounts.audit_log import Actor, AuditLog
from autan.accounts.key_store import KeyStore
from autan.accounts.workspace import Workspace
from autan.errors import Conflict, InvalidRequest, NotFound
from autan.storage.database import Database
from autan.storage.tables import WorkspaceRow, utcnow

DEFAULT_WORKSPACE_NAME = "Default Workspace"


class WorkspaceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        name: str,
        *,
        actor: Actor,
        description: str = "",
        icon: str = "",
        is_default: bool = False,
    ) -> Workspace:
        row = WorkspaceRow(
            id=str(uuid.uuid4()),
            name=name,
            description=description,
            icon=icon,
            is_default=is_default,
            archived=False,
            spend_limit=None,
            created_at=utcnow(),
        )
        with self._db.session() as session, session.begin():
            session.add(row)
            AuditLog.add(
                session,
                actor,
                "workspace.create",
                target_type="WORKSPACE",
                target_id=row.id,
                workspace_id=row.id,
                details={"name": name},
            )
        return Workspace.from_row(row)

    def default(self) -> Workspace:
        """The default workspace, created the first time it is asked for."""
        with self._db.session() as session:
            row = session.scalars(select(WorkspaceRow).where(WorkspaceRow.is_default)).first()
        if row is not None:
            return Workspace.from_row(row)
        return self.create(DEFAULT_WORKSPACE_NAME, actor=Actor.command_line(), is_default=True)

    def get(self, workspace_id: str) -> Workspace:
        with self._db.session() as session:
            return Workspace.from_row(self._row(session, workspace_id))

    def page(
        self, *, archived: bool, page: int, page_size: int, search: str | None
    ) -> tuple[int, list[Workspace]]:
        query = select(WorkspaceRow).where(WorkspaceRow.archived == archived)
        if search:
            query = query.where(WorkspaceRow.name.ilike(f"%{search}%"))
        with self._db.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(WorkspaceRow.created_at, WorkspaceRow.id)
                .offset((page - 1) * page_size)
                .limit(page_size)
            ).all()
        return total, [Workspace.from_row(r) for r in rows]

    def update(
        self,
        workspace_id: str,
        *,
        actor: Actor,
        name: str | None = None,
        description: str | None = None,
        icon: str | None = None,
        archived: bool | None = None,
    ) -> Workspace:
        changes = {
            k: v
            for k, v in (
                ("name", name),
                ("description", description),
                ("icon", icon),
                ("archived", archived),
            )
            if v is not None
        }
        event = "workspace.delete" if archived else "workspace.update"
        return self._change(workspace_id, actor, event, "WORKSPACE", changes)

    def set_spend_limit(self, workspace_id: str, limit: float | None, *, actor: Actor) -> Workspace:
        return self._change(
            workspace_id,
            actor,
            "billing.workspace_monthly_limit.updated",
            "WORKSPACE_MONTHLY_LIMIT",
            {"spend_limit": limit},
        )

    def set_rate_limits(
        self,
        workspace_id: str,
        *,
        requests_per_minute: int | None,
        tokens_per_minute: int | None,
        actor: Actor,
    ) -> Workspace:
        """Per-minute limits shared by all the workspace's keys (None: none), on top of each
        key's own; every process applies them from the keys' next request on."""
        return self._change(
            workspace_id,
            actor,
            "rate_limit.rule.update",
            "WORKSPACE",
            {"requests_per_minute": requests_per_minute, "tokens_per_minute": tokens_per_minute},
        )

    def set_bodies_days(self, workspace_id: str, days: int | None, *, actor: Actor) -> Workspace:
        """Keep the request bodies of this workspace's keys ``days`` days in the request log
        (None: not kept); a key's own setting wins."""
        return self._change(
            workspace_id,
            actor,
            "workspace.request_log.update",
            "WORKSPACE",
            {"request_log_bodies_days": days},
        )

    def _change(
        self,
        workspace_id: str,
        actor: Actor,
        event: str,
        target_type: str,
        changes: Mapping[str, object],
    ) -> Workspace:
        with self._db.session() as session, session.begin():
            row = self._row(session, workspace_id)
            if changes.get("archived") and not row.archived:
                self._check_archivable(session, row)
            for attr, value in changes.items():
                setattr(row, attr, value)
            AuditLog.add(
                session,
                actor,
                event,
                target_type=target_type,
                target_id=workspace_id,
                workspace_id=workspace_id,
                details={k: str(v) for k, v in changes.items()},
            )
        return Workspace.from_row(row)

    @staticmethod
    def _check_archivable(session: Session, row: WorkspaceRow) -> None:
        """Archiving refuses its keys at once: not the default workspace (keys created without
        a workspace go there), nor the one holding the last admin keys that work."""
        if row.is_default:
            raise InvalidRequest("The default workspace cannot be archived.")
        if not KeyStore.usable_admins(session, excluding_workspace=row.id):
            raise Conflict(
                "This workspace holds the last admin keys that work: archiving it would lock "
                "everyone out of the admin API. Create an admin key in another workspace first."
            )

    @staticmethod
    def _row(session: Session, workspace_id: str) -> WorkspaceRow:
        row = session.get(WorkspaceRow, workspace_id)
        if row is None:
            raise NotFound("workspace", workspace_id)
        return row
