r"""A job as the rest of autan sees it, and the states it moves through: one state machine for
every kind, whose names are the Mistral wire statuses (each kind uses the ones its API has).

    batch:        QUEUED -> RUNNING -> SUCCESS | FAILED | TIMEOUT_EXCEEDED
    fine-tuning:  QUEUED -> VALIDATING -> VALIDATED -> RUNNING -> SUCCESS | FAILED
                                       \-> FAILED_VALIDATION

A cancel request from any live state moves to CANCELLATION_REQUESTED, which the worker turns
into CANCELLED; a kind may cancel a job that is only waiting (fine-tuning: QUEUED, VALIDATING,
VALIDATED) at once. A VALIDATED job waits for its start (``start_requested``) before a worker
takes it again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from autan.storage.job_tables import JobRow


class JobStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    VALIDATING = "VALIDATING"
    VALIDATED = "VALIDATED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    FAILED_VALIDATION = "FAILED_VALIDATION"
    TIMEOUT_EXCEEDED = "TIMEOUT_EXCEEDED"
    CANCELLATION_REQUESTED = "CANCELLATION_REQUESTED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL

    def can_become(self, other: JobStatus) -> bool:
        return other in _NEXT[self]


_TERMINAL = frozenset(
    {
        JobStatus.SUCCESS,
        JobStatus.FAILED,
        JobStatus.FAILED_VALIDATION,
        JobStatus.TIMEOUT_EXCEEDED,
        JobStatus.CANCELLED,
    }
)
_NEXT: dict[JobStatus, frozenset[JobStatus]] = {
    # Any live job may fail: a bug in its kind ends it FAILED wherever it was.
    JobStatus.QUEUED: frozenset(
        {
            JobStatus.RUNNING,
            JobStatus.VALIDATING,
            JobStatus.FAILED,
            JobStatus.CANCELLATION_REQUESTED,
            JobStatus.CANCELLED,
        }
    ),
    JobStatus.VALIDATING: frozenset(
        {
            JobStatus.VALIDATED,
            JobStatus.FAILED_VALIDATION,
            JobStatus.FAILED,
            JobStatus.CANCELLATION_REQUESTED,
            JobStatus.CANCELLED,
        }
    ),
    JobStatus.VALIDATED: frozenset(
        {
            JobStatus.RUNNING,
            JobStatus.FAILED,
            JobStatus.CANCELLATION_REQUESTED,
            JobStatus.CANCELLED,
        }
    ),
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
# Statuses a worker picks up: new jobs, jobs whose worker died, cancels to carry out, and
# validated jobs once they are asked to start.
LIVE = (
    JobStatus.QUEUED,
    JobStatus.VALIDATING,
    JobStatus.VALIDATED,
    JobStatus.RUNNING,
    JobStatus.CANCELLATION_REQUESTED,
)


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: str
    workspace_id: str
    key_id: str | None  # None: made without API keys (``--no-auth``)
    status: JobStatus
    start_requested: bool
    model: str | None
    metadata: dict[str, Any] | None
    spec: dict[str, Any]
    result: dict[str, Any]
    total_items: int
    succeeded_items: int
    failed_items: int
    attempts: int
    created_at: datetime
    modified_at: datetime
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
            start_requested=row.start_requested,
            model=row.model,
            metadata=row.metadata_,
            spec=dict(row.spec),
            result=dict(row.result),
            total_items=row.total_items,
            succeeded_items=row.succeeded_items,
            failed_items=row.failed_items,
            attempts=row.attempts,
            created_at=row.created_at,
            modified_at=row.modified_at or row.created_at,
            started_at=row.started_at,
            completed_at=row.completed_at,
            deadline=row.deadline,
        )
