"""Accounts as the API sees them: keys checked, meters handed out, usage recorded."""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future
from pathlib import Path

from autan.accounts.api_key import ApiKey
from autan.accounts.audit_log import Actor, AuditLog
from autan.accounts.key_store import KeyStore
from autan.accounts.limit_store import LimitStore
from autan.accounts.memory_limits import MemoryLimits
from autan.accounts.meter import Meter
from autan.accounts.prices import Prices, StaticPrices
from autan.accounts.redis_limits import RedisLimits
from autan.accounts.usage_ledger import UsageLedger
from autan.accounts.workspace_store import WorkspaceStore
from autan.errors import Unauthorized
from autan.settings import AccountsSettings, Settings
from autan.storage.database import Database
from autan.storage.tables import utcnow

log = logging.getLogger(__name__)

ADMIN_KEY_FILE = "admin_key"


class Accounts:
    def __init__(
        self,
        db: Database,
        limits: LimitStore,
        *,
        prices: Prices | None = None,
        settings: AccountsSettings | None = None,
    ) -> None:
        self.db = db
        self.limits = limits
        self.prices: Prices = prices or StaticPrices()
        self.settings = settings or AccountsSettings()
        self.keys = KeyStore(db)
        self.workspaces = WorkspaceStore(db)
        self.audit = AuditLog(db)
        self.usage = UsageLedger(
            db,
            flush_seconds=self.settings.usage_flush_seconds,
            batch_size=self.settings.usage_batch_size,
        )

    @classmethod
    def open(
        cls, settings: Settings, prices: Prices | None = None, *, limits: LimitStore | None = None
    ) -> Accounts:
        """The database (migrated), limits in Redis if configured, else in memory (or
        ``limits`` when given); the usage writer running."""
        db = Database.open(settings.database_url, settings.data_dir)
        if limits is None:
            limits = (
                RedisLimits(settings.redis_url, prefix=settings.accounts.redis_prefix)
                if settings.redis_url
                else MemoryLimits()
            )
        accounts = cls(db, limits, prices=prices, settings=settings.accounts)
        accounts.usage.start()
        return accounts

    def bootstrap_admin_key(self, data_dir: Path) -> str | None:
        """On the first start (no admin key yet), create one in the default workspace, write
        it to ``data_dir/admin_key`` (mode 0600) and return it; None on later starts."""
        with self.db.exclusive("bootstrap"):
            if self.keys.has_admin():
                return None
            workspace = self.workspaces.default()
            _, secret = self.keys.create(
                workspace_id=workspace.id, actor=Actor.command_line(), name="admin", is_admin=True
            )
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / ADMIN_KEY_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        os.chmod(path, 0o600)  # an older file keeps its mode through O_CREAT
        return secret

    def authenticate(self, secret: str | None) -> ApiKey:
        """The usable key with this secret; 401 for none, an unknown, revoked or expired one,
        or one whose workspace is archived."""
        if not secret:
            raise Unauthorized("No API key: send 'Authorization: Bearer <key>'")
        key = self.keys.find(secret)
        if key is None:
            raise Unauthorized("Invalid API key")
        if key.revoked_at is not None:
            raise Unauthorized("This API key was revoked")
        if not key.usable_at(utcnow()):
            raise Unauthorized("This API key has expired")
        if key.workspace_archived:
            raise Unauthorized("This API key's workspace is archived")
        return key

    def meter(self, key: ApiKey, endpoint: str, *, batch: bool = False) -> Meter:
        """A request's meter; ``batch`` requests are priced at half (``prices.BATCH_DISCOUNT``)."""
        return Meter(self, key, endpoint, batch=batch)

    def record(self, meter: Meter, status: int) -> None:
        """Buffer the usage of a request that was not answered (its client went away)."""
        self.usage.add(meter.record(status))

    def commit(self, meter: Meter, status: int) -> Future[None]:
        """Write the usage of a request about to be answered; done once it is durable."""
        return self.usage.commit(meter.record(status))

    def close(self) -> None:
        """Write buffered usage, then let go of Redis and the database."""
        self.usage.close()
        self.limits.close()
        self.db.close()
