"""An API key as the rest of autan sees it, and how secrets are made and hashed."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from autan.storage.tables import ApiKeyRow

# Visible prefix: tells an autan key apart in logs and secret scanners.
KEY_PREFIX = "sk-autan-"


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """SHA-256, hex. Secrets carry 256 random bits, so a fast unsalted hash is safe here."""
    return hashlib.sha256(secret.encode()).hexdigest()


def hide_secret(secret: str) -> str:
    return f"{secret[: len(KEY_PREFIX) + 4]}...{secret[-4:]}"


@dataclass(frozen=True, slots=True)
class SpendLimit:
    """A workspace's monthly spend limit; ``amount`` None: none."""

    amount: float | None


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str | None
    workspace_id: str
    hidden_key: str
    is_admin: bool
    models: tuple[str, ...] | None
    requests_per_minute: int | None
    tokens_per_minute: int | None
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    created_by: str | None
    # Set by ``KeyStore.find``: the key's workspace is archived, so the key is refused.
    workspace_archived: bool = False
    # Days the request log keeps this key's bodies: 0 never, None as its workspace says.
    request_log_bodies_days: int | None = None
    # The workspace's setting, as ``KeyStore.find`` read it with the key.
    workspace_bodies_days: int | None = None
    # The workspace's per-minute limits (shared by its keys), as ``KeyStore.find`` read them.
    workspace_requests_per_minute: int | None = None
    workspace_tokens_per_minute: int | None = None
    # The workspace's monthly spend limit as ``KeyStore.find`` read it with the key (a
    # request then needs no second query for it); None when the key came from elsewhere.
    workspace_spend: SpendLimit | None = field(default=None, compare=False)

    @classmethod
    def from_row(
        cls,
        row: ApiKeyRow,
        *,
        workspace_archived: bool = False,
        workspace_bodies_days: int | None = None,
        workspace_limits: tuple[int | None, int | None] = (None, None),
        workspace_spend: SpendLimit | None = None,
    ) -> ApiKey:
        return cls(
            id=row.id,
            name=row.name,
            workspace_id=row.workspace_id,
            hidden_key=row.hidden_key,
            is_admin=row.is_admin,
            models=tuple(row.models) if row.models is not None else None,
            requests_per_minute=row.requests_per_minute,
            tokens_per_minute=row.tokens_per_minute,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            created_at=row.created_at,
            created_by=row.created_by,
            workspace_archived=workspace_archived,
            request_log_bodies_days=row.request_log_bodies_days,
            workspace_bodies_days=workspace_bodies_days,
            workspace_requests_per_minute=workspace_limits[0],
            workspace_tokens_per_minute=workspace_limits[1],
            workspace_spend=workspace_spend,
        )

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    @property
    def bodies_days(self) -> int | None:
        """Days the request log keeps this key's request and reply bodies; None: not kept
        (the default). The key's own setting wins over its workspace's."""
        days = self.request_log_bodies_days
        if days is None:
            days = self.workspace_bodies_days
        return days or None

    def allows(self, *names: str) -> bool:
        """Whether the key may use a model known by any of ``names`` (its id and aliases)."""
        return self.models is None or any(name in self.models for name in names)
