"""API keys in the database: created with their secret shown once, found by hash, revoked."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from autan.accounts.api_key import ApiKey, SpendLimit, hash_secret, hide_secret, new_secret
from autan.accounts.audit_log import Actor, AuditLog
from autan.errors import Conflict, InvalidRequest, NotFound
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
        """A new key and its secret: the only time the secret exists outside the client. A
        key that would be expired already, or belong to an archived workspace, is refused."""
        _check_expiry(expires_at)
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
            workspace = session.get(WorkspaceRow, workspace_id)
            if workspace is None:
                raise NotFound("workspace", workspace_id)
            if workspace.archived:
                raise InvalidRequest(
                    f"Workspace {workspace_id} is archived: its keys are refused.",
                    param="workspace_uuid",
                )
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
            found = session.execute(
                select(
                    ApiKeyRow,
                    WorkspaceRow.archived,
                    WorkspaceRow.request_log_bodies_days,
                    WorkspaceRow.requests_per_minute,
                    WorkspaceRow.tokens_per_minute,
                    WorkspaceRow.spend_limit,
                )
                .outerjoin(WorkspaceRow, WorkspaceRow.id == ApiKeyRow.workspace_id)
                .where(ApiKeyRow.key_hash == hash_secret(secret))
            ).first()
            if found is None:
                return None
            row, archived, bodies_days, workspace_rpm, workspace_tpm, spend_limit = found
            return ApiKey.from_row(
                row,
                workspace_archived=bool(archived),
                workspace_bodies_days=bodies_days,
                workspace_limits=(workspace_rpm, workspace_tpm),
                workspace_spend=SpendLimit(spend_limit),
            )

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
        workspace_id: str | None = None,
    ) -> list[ApiKey]:
        query = select(ApiKeyRow)
        if workspace_id is not None:
            query = query.where(ApiKeyRow.workspace_id == workspace_id)
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

    @staticmethod
    def usable_admins(session: Session, *, excluding_workspace: str | None = None) -> Sequence[str]:
        """Ids of the admin keys that work now: not revoked, not expired, in a workspace that
        is not archived (nor ``excluding_workspace``). Locked until the transaction ends on
        PostgreSQL, so two transactions cannot each take away one of the last two."""
        query = (
            select(ApiKeyRow.id)
            .join(WorkspaceRow, WorkspaceRow.id == ApiKeyRow.workspace_id)
            .where(
                ApiKeyRow.is_admin,
                ApiKeyRow.revoked_at.is_(None),
                or_(ApiKeyRow.expires_at.is_(None), ApiKeyRow.expires_at > utcnow()),
                WorkspaceRow.archived.is_(False),
            )
        )
        if excluding_workspace is not None:
            query = query.where(ApiKeyRow.workspace_id != excluding_workspace)
        return list(session.scalars(query.with_for_update(of=ApiKeyRow)).all())

    def revoke(self, key_id: str, *, actor: Actor) -> ApiKey:
        """Revoke a key; the last admin key that works cannot be revoked (409): nobody could
        use the admin API any more."""
        with self._db.session() as session, session.begin():
            row = self._row(session, key_id)
            if (
                row.is_admin
                and row.revoked_at is None
                and list(self.usable_admins(session)) == [row.id]
            ):
                raise Conflict(
                    "This is the last admin key that works: revoking it would lock everyone "
                    "out of the admin API. Create another admin key first."
                )
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

    def set_expiry(self, key_id: str, expires_at: datetime | None, *, actor: Actor) -> ApiKey:
        """Give a key a new expiry (None: it never expires); one already past is refused."""
        _check_expiry(expires_at)
        with self._db.session() as session, session.begin():
            row = self._row(session, key_id)
            row.expires_at = expires_at
            AuditLog.add(
                session,
                actor,
                "admin_api_key.update" if row.is_admin else "api_key.update",
                target_type="ADMIN_API_KEY" if row.is_admin else "API_KEY",
                target_id=row.id,
                workspace_id=row.workspace_id,
                details={"expires_at": f"{expires_at:%Y-%m-%d}" if expires_at else "never"},
            )
            return ApiKey.from_row(row)

    def set_bodies_days(self, key_id: str, days: int | None, *, actor: Actor) -> ApiKey:
        """Keep this key's request bodies ``days`` days in the request log (0: never; None:
        as its workspace says)."""
        with self._db.session() as session, session.begin():
            row = self._row(session, key_id)
            row.request_log_bodies_days = days
            AuditLog.add(
                session,
                actor,
                "api_key.request_log.update",
                target_type="API_KEY",
                target_id=row.id,
                workspace_id=row.workspace_id,
                details={"request_log_bodies_days": str(days)},
            )
            return ApiKey.from_row(row)

    @staticmethod
    def _row(session: Session, key_id: str) -> ApiKeyRow:
        row = session.get(ApiKeyRow, key_id)
        if row is None:
            raise NotFound("API key", key_id)
        return row


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidRequest(
            f"The expiration {expires_at:%Y-%m-%d} is not in the future: the key would be "
            "expired already (a key expires as its expiration date begins, UTC).",
            param="expiration",
        )
