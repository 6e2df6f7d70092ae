"""The audit log: who created, revoked or changed what, and when."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from autan.storage.database import Database
from autan.storage.tables import AuditRow, utcnow


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an API key (by id), or the ``autan`` command on the server's machine."""

    type: str
    id: str | None

    @classmethod
    def key(cls, key_id: str) -> Actor:
        return cls("API_KEY", key_id)

    @classmethod
    def command_line(cls) -> Actor:
        return cls("OTHER", "autan-cli")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    created_at: datetime
    actor: Actor
    event_type: str
    target_type: str
    target_id: str
    workspace_id: str | None
    details: dict[str, Any] = field(default_factory=dict)


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def add(
        session: Session,
        actor: Actor,
        event_type: str,
        *,
        target_type: str,
        target_id: str,
        workspace_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Stage an entry in ``session``, so it commits (or not) with the change it records."""
        session.add(
            AuditRow(
                created_at=utcnow(),
                actor_type=actor.type,
                actor_id=actor.id,
                event_type=event_type,
                target_type=target_type,
                target_id=target_id,
                workspace_id=workspace_id,
                details=details or {},
            )
        )

    def entries(
        self,
        *,
        event_types: list[str] | None = None,
        target_types: list[str] | None = None,
        actor_types: list[str] | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
        descending: bool = True,
        limit: int = 20,
    ) -> list[AuditEntry]:
        query = select(AuditRow)
        if event_types:
            query = query.where(AuditRow.event_type.in_(event_types))
        if target_types:
            query = query.where(AuditRow.target_type.in_(target_types))
        if actor_types:
            query = query.where(AuditRow.actor_type.in_(actor_types))
        if after is not None:
            query = query.where(AuditRow.created_at > after)
        if before is not None:
            query = query.where(AuditRow.created_at < before)
        order = AuditRow.id.desc() if descending else AuditRow.id.asc()
        with self._db.session() as session:
            rows = session.scalars(query.order_by(order).limit(limit)).all()
        return [
            AuditEntry(
                id=row.id,
                created_at=row.created_at,
                actor=Actor(row.actor_type, row.actor_id),
                event_type=row.event_type,
                target_type=row.target_type,
                target_id=row.target_id,
                workspace_id=row.workspace_id,
                details=dict(row.details),
            )
            for row in rows
        ]
