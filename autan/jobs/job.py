"""A job as the rest of autan sees it, and the states it moves through.

QUEUED -> RUNNING -> SUCCESS | FAILED | TIMEOUT_EXCEEDED; a cancel request from any live state
moves to CANCELLATION_REQUESTED, which the worker turns into CANCELLED. The names are the
Mistral batch statuses; other kinds map their own wire statuses onto these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from autan.storage.job_tables import JobRow


class JobStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    TIMEOUT_EXCEEDED = "TIMEOUT_EXCEEDED"
    CANCELLATION_REQUESTED = "CANCELLATION_REQUESTED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL

    def can_become(self, other: JobStatus) -> bool:
        return other in _NEXT[self]


_TERMINAL = frozenset(
    {JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.TIMEOUT_EXCEEDED, JobStatus.CANCELLED}
)
_NEXT: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLATION_REQUESTED}),
    JobStatus.RUNNING: frozenset(
        {
            JobStatus.SUCCESS,
            JobStatus.FAILED,
            JobStatus.TIMEOUT_EXCEEDED,
            JobStatus.CANCELLATION_REQUESTED,
        }
    ),
    # A job whose last line finished while the cancel was on its way still ends as asked.
    JobStatus.CANCELLATION_REQUESTED: frozenset({JobStatus.CANCELLED, JobStatus.FAILED}),
    **{status: frozenset() for status in _TERMINAL},
}
# Statuses a worker picks up: new jobs, jobs whose worker died, cancels to carry out.
LIVE = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLATION_REQUESTED)


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: str
    workspace_id: str
    key_id: str
    status: JobStatus
    model: str | None
    metadata: dict[str, Any] | None
    spec: dict[str, Any]
    result: dict[str, Any]
    total_items: int
    succeeded_items: int
    failed_items: int
    attempts: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    deadline: datetime | None

    @classmethod
    def from_row(cls, row: JobRow) -> Job:
        return cls(
            id=row.id,
            kind=row.kind,
            workspace_id=row.workspace_id,
            key_id=row.key_id,
            status=JobStatus(row.status),
            model=row.model,
            metadata=row.metadata_,
            spec=dict(row.spec),
            result=dict(row.result),
            total_items=row.total_items,
            succeeded_items=row.succeeded_items,
            failed_items=row.failed_items,
            attempts=row.attempts,
            created_at=row.created_at,
            started_at=row.started_at,
            completed_at=row.completed_at,
            deadline=row.deadline,
        )
