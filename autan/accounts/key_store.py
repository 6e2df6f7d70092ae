"""API keys in the database: created with their secret shown once, found by hash, revoked."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from autan.accounts.api_key import ApiKey, hash_secret, hide_secret, new_secret
from autan.accounts.audit_log import Actor, AuditLog
from autan.errors import NotFound
from autan.storage.database import Database
from autan.storage.tables import ApiKeyRow, WorkspaceRow, utcnow


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """What a key may do; None leaves a limit unset (the server default applies)."""

    models: tuple[str, ...] | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


class KeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        *,
        workspace_id: str,
        actor: Actor,
        name: str | None = None,
        limits: KeyLimits = KeyLimits(),
        expires_at: datetime | None = None,
        is_admin: bool = False,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret: the only time the secret exists outside the client."""
        secret = new_secret()
        row = ApiKeyRow(
            id=str(uuid.uuid4()),
            key_hash=hash_secret(secret),
            hidden_key=hide_secret(secret),
            name=name,
            workspace_id=workspace_id,
            is_admin=is_admin,
            models=list(limits.models) if limits.models is not None else None,
            requests_per_minute=limits.requests_per_minute,
            tokens_per_minute=limits.tokens_per_minute,
            expires_at=expires_at,
            revoked_at=None,
            created_at=utcnow(),
            created_by=actor.id,
        )
        with self._db.session() as session, session.begin():
            if session.get(WorkspaceRow, workspace_id) is None:
                raise NotFound("workspace", workspace_id)
            session.add(row)
            AuditLog.add(
                session,
                actor,
                "admin_api_key.created" if is_admin else "api_key.create",
                target_type="ADMIN_API_KEY" if is_admin else "API_KEY",
                target_id=row.id,
                workspace_id=workspace_id,
                details={"name": name or "", "hidden_key": row.hidden_key},
            )
        return ApiKey.from_row(row), secret

    def find(self, secret: str) -> ApiKey | None:
        """The key with this secret, revoked and expired ones included; None if unknown.

        This runs on every request and reads the database each time, so a revocation made by
        any process holds at once everywhere.
        """
        with self._db.session() as session:
            row = session.scalars(
                select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_secret(secret))
            ).first()
            return ApiKey.from_row(row) if row is not None else None

    def get(self, key_id: str) -> ApiKey:
        with self._db.session() as session:
            return ApiKey.from_row(self._row(session, key_id))

    def list(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        name: str | None = None,
        include_revoked: bool = False,
    ) -> list[ApiKey]:
        query = select(ApiKeyRow)
        if not include_revoked:
            query = query.where(ApiKeyRow.revoked_at.is_(None))
        if name:
            query = query.where(
                or_(ApiKeyRow.name.ilike(f"%{name}%"), ApiKeyRow.hidden_key.ilike(f"%{name}"))
            )
        query = query.order_by(ApiKeyRow.created_at, ApiKeyRow.id).offset(offset).limit(limit)
        with self._db.session() as session:
            return [ApiKey.from_row(r) for r in session.scalars(query).all()]

    def has_admin(self) -> bool:
        with self._db.session() as session:
            query = select(ApiKeyRow.id).where(ApiKeyRow.is_admin, ApiKeyRow.revoked_at.is_(None))
            return session.scalars(query.limit(1)).first() is not None

    def revoke(self, key_id: str, *, actor: Actor) -> ApiKey:
        with self._db.session() as session, session.begin():
            row = self._row(session, key_id)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                AuditLog.add(
                    session,
                    actor,
                    "admin_api_key.delete" if row.is_admin else "api_key.delete",
                    target_type="ADMIN_API_KEY" if row.is_admin else "API_KEY",
                    target_id=row.id,
                    workspace_id=row.workspace_id,
                    details={"name": row.name or "", "hidden_key": row.hidden_key},
                )
            return ApiKey.from_row(row)

    def set_limits(self, key_id: str, limits: KeyLimits, *, actor: Actor) -> ApiKey:
        """Replace a key's models and limits."""
        with self._db.session() as session, session.begin():
            row = self._row(session, key_id)
            row.models = list(limits.models) if limits.models is not None else None
            row.requests_per_minute = limits.requests_per_minute
            row.tokens_per_minute = limits.tokens_per_minute
            AuditLog.add(
                session,
                actor,
                "rate_limit.rule.update",
                target_type="API_KEY",
                target_id=row.id,
                workspace_id=row.workspace_id,
                details={
                    "models": ",".join(limits.models) if limits.models is not None else "*",
                    "requests_per_minute": str(limits.requests_per_minute),
                    "tokens_per_minute": str(limits.tokens_per_minute),
                },
            )
            return ApiKey.from_row(row)

    @staticmethod
    def _row(session: Session, key_id: str) -> ApiKeyRow:
        row = session.get(ApiKeyRow, key_id)
        if row is None:
            raise NotFound("API key", key_id)
        return row
