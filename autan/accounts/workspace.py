"""A workspace: the unit keys belong to and monthly spend is limited by."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from autan.storage.tables import WorkspaceRow

# Under ``--no-auth`` every caller is in this one workspace (files, batch jobs, fine-tuning)
# and acts as this one key.
LOCAL_WORKSPACE = "local"
LOCAL_KEY = "local"


@dataclass(frozen=True, slots=True)
class Workspace:
    id: str
    name: str
    description: str
    icon: str
    is_default: bool
    archived: bool
    spend_limit: float | None
    created_at: datetime
    # Days the request log keeps this workspace's bodies; None: not kept.
    request_log_bodies_days: int | None = None
    # Shared by all the workspace's keys, on top of each key's own; None: no such limit.
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    @classmethod
    def from_row(cls, row: WorkspaceRow) -> Workspace:
        return cls(
            id=row.id,
            name=row.name,
            description=row.description,
            icon=row.icon,
            is_default=row.is_default,
            archived=row.archived,
            spend_limit=row.spend_limit,
            created_at=row.created_at,
            request_log_bodies_days=row.request_log_bodies_days or None,
            requests_per_minute=row.requests_per_minute,
            tokens_per_minute=row.tokens_per_minute,
        )
