"""Fine-tuning jobs in the database: rows in, domain objects out.

Status changes are conditional updates (``UPDATE ... WHERE status IN (...)``), so a cancel and
the worker finishing the same job cannot both win; each change that lands adds a
``status-updated`` event. Workers claim jobs with a lease they renew while they work: a job whose
lease ran out (its server died) is claimed again and resumed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update

from autan.errors import NotFound
from autan.fine_tuning.fine_tuning_job import (
    FineTuningJob,
    JobCheckpoint,
    JobEvent,
    JobStatus,
    TrainingFileRef,
)
from autan.storage.database import Database
from autan.storage.fine_tuning_tables import (
    FineTuningCheckpointRow,
    FineTuningEventRow,
    FineTuningJobRow,
)
from autan.storage.tables import utcnow


@dataclass(frozen=True, slots=True)
class JobFilter:
    model: str | None = None
    status: JobStatus | None = None
    suffix: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


class JobStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        *,
        workspace_id: str,
        model: str,
        hyperparameters: dict[str, Any],
        training_files: list[TrainingFileRef],
        validation_files: list[str],
        suffix: str | None,
        auto_start: bool,
        metadata: dict[str, Any] | None = None,
    ) -> FineTuningJob:
        now = utcnow()
        row = FineTuningJobRow(
            id=str(uuid.uuid4()),
            workspace_id=workspace_id,
            model=model,
            status=JobStatus.QUEUED.value,
            auto_start=auto_start,
            start_requested=auto_start,
            hyperparameters=hyperparameters,
            training_files=[{"file_id": f.file_id, "weight": f.weight} for f in training_files],
            validation_files=validation_files,
            suffix=suffix,
            job_metadata=metadata,
            created_at=now,
            modified_at=now,
        )
        with self._db.session() as s, s.begin():
            s.add(row)
            s.add(self._event(row.id, JobStatus.QUEUED, None, now))
        return self.get(row.id)

    def get(self, job_id: str, workspace_id: str | None = None) -> FineTuningJob:
        """The job with its events (newest first) and checkpoints; 404 when another workspace
        owns it."""
        with self._db.session() as s:
            row = s.get(FineTuningJobRow, job_id)
            if row is None or (workspace_id is not None and row.workspace_id != workspace_id):
                raise NotFound("fine-tuning job", job_id)
            events = s.scalars(
                select(FineTuningEventRow)
                .where(FineTuningEventRow.job_id == job_id)
                .order_by(FineTuningEventRow.id.desc())
            ).all()
            checkpoints = s.scalars(
                select(FineTuningCheckpointRow)
                .where(FineTuningCheckpointRow.job_id == job_id)
                .order_by(FineTuningCheckpointRow.step_number.desc())
            ).all()
            return _job(row, events, checkpoints)

    def list(
        self, workspace_id: str, where: JobFilter, *, page: int, page_size: int
    ) -> tuple[list[FineTuningJob], int]:
        conditions = [FineTuningJobRow.workspace_id == workspace_id]
        if where.model is not None:
            conditions.append(FineTuningJobRow.model == where.model)
        if where.status is not None:
            conditions.append(FineTuningJobRow.status == where.status.value)
        if where.suffix is not None:
            conditions.append(FineTuningJobRow.suffix == where.suffix)
        if where.created_after is not None:
            conditions.append(FineTuningJobRow.created_at >= where.created_after)
        if where.created_before is not None:
            conditions.append(FineTuningJobRow.created_at <= where.created_before)
        with self._db.session() as s:
            total = s.scalar(select(func.count()).select_from(FineTuningJobRow).where(*conditions))
            rows = s.scalars(
                select(FineTuningJobRow)
                .where(*conditions)
                .order_by(FineTuningJobRow.created_at.desc(), FineTuningJobRow.id)
                .offset(page * page_size)
                .limit(page_size)
            ).all()
            return [_job(r, [], []) for r in rows], int(total or 0)

    def transition(
        self,
        job_id: str,
        to: JobStatus,
        *,
        only_from: Iterable[JobStatus],
        data: dict[str, Any] | None = None,
        **fields: Any,
    ) -> bool:
        """Move the job to ``to`` if it is in one of ``only_from``; False if it was not."""
        now = utcnow()
        values = {"status": to.value, "modified_at": now, **fields}
        if to.finished:
            values.update(lease_owner=None, lease_expires_at=None)
        with self._db.session() as s, s.begin():
            done = s.execute(
                update(FineTuningJobRow)
                .where(
                    FineTuningJobRow.id == job_id,
                    FineTuningJobRow.status.in_([f.value for f in only_from]),
                )
                .values(**values)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return False
            s.add(self._event(job_id, to, data, now))
        return True

    def request_start(self, job_id: str) -> None:
        with self._db.session() as s, s.begin():
            s.execute(
                update(FineTuningJobRow)
                .where(FineTuningJobRow.id == job_id)
                .values(start_requested=True, modified_at=utcnow())
            )

    def claim(self, owner: str, lease_seconds: float) -> FineTuningJob | None:
        """Take the oldest job with work to do: to validate, to start, or abandoned by a
        worker whose lease ran out (a running job to resume, a cancellation to finish)."""
        now = utcnow()
        ready = or_(
            FineTuningJobRow.status == JobStatus.QUEUED.value,
            (FineTuningJobRow.status == JobStatus.VALIDATED.value)
            & FineTuningJobRow.start_requested,
            FineTuningJobRow.status.in_(
                [
                    JobStatus.VALIDATING.value,
                    JobStatus.RUNNING.value,
                    JobStatus.CANCELLATION_REQUESTED.value,
                ]
            ),
        )
        free = or_(
            FineTuningJobRow.lease_expires_at.is_(None), FineTuningJobRow.lease_expires_at < now
        )
        with self._db.session() as s:
            candidates = s.scalars(
                select(FineTuningJobRow.id)
                .where(ready, free)
                .order_by(FineTuningJobRow.created_at)
                .limit(8)
            ).all()
        for job_id in candidates:
            with self._db.session() as s, s.begin():
                taken = s.execute(
                    update(FineTuningJobRow)
                    .where(FineTuningJobRow.id == job_id, free)
                    .values(
                        lease_owner=owner,
                        lease_expires_at=now + timedelta(seconds=lease_seconds),
                    )
                )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                return self.get(job_id)
        return None

    def renew(self, job_id: str, owner: str, lease_seconds: float) -> None:
        with self._db.session() as s, s.begin():
            s.execute(
                update(FineTuningJobRow)
                .where(FineTuningJobRow.id == job_id, FineTuningJobRow.lease_owner == owner)
                .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
            )

    def release(self, job_id: str, owner: str) -> None:
        with self._db.session() as s, s.begin():
            s.execute(
                update(FineTuningJobRow)
                .where(FineTuningJobRow.id == job_id, FineTuningJobRow.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )

    def update(self, job_id: str, **fields: Any) -> None:
        with self._db.session() as s, s.begin():
            s.execute(
                update(FineTuningJobRow)
                .where(FineTuningJobRow.id == job_id)
                .values(modified_at=utcnow(), **fields)
            )

    def add_event(self, job_id: str, name: str, data: dict[str, Any] | None = None) -> None:
        with self._db.session() as s, s.begin():
            s.add(FineTuningEventRow(job_id=job_id, name=name, data=data, created_at=utcnow()))

    def add_checkpoint(self, job_id: str, step: int, metrics: dict[str, Any]) -> None:
        with self._db.session() as s, s.begin():
            s.add(
                FineTuningCheckpointRow(
                    job_id=job_id,
                    step_number=step,
                    train_loss=metrics.get("train_loss"),
                    valid_loss=metrics.get("valid_loss"),
                    valid_mean_token_accuracy=metrics.get("valid_mean_token_accuracy"),
                    created_at=utcnow(),
                )
            )

    @staticmethod
    def _event(
        job_id: str, status: JobStatus, data: dict[str, Any] | None, now: datetime
    ) -> FineTuningEventRow:
        return FineTuningEventRow(
            job_id=job_id,
            name="status-updated",
            data={"status": status.value, **(data or {})},
            created_at=now,
        )


def _job(
    row: FineTuningJobRow,
    events: Iterable[FineTuningEventRow],
    checkpoints: Iterable[FineTuningCheckpointRow],
) -> FineTuningJob:
    return FineTuningJob(
        id=row.id,
        workspace_id=row.workspace_id,
        model=row.model,
        status=JobStatus(row.status),
        auto_start=row.auto_start,
        start_requested=row.start_requested,
        hyperparameters=dict(row.hyperparameters),
        training_files=[TrainingFileRef(f["file_id"], f["weight"]) for f in row.training_files],
        validation_files=list(row.validation_files),
        created_at=row.created_at,
        modified_at=row.modified_at,
        suffix=row.suffix,
        fine_tuned_model=row.fine_tuned_model,
        trained_tokens=row.trained_tokens,
        metadata=row.job_metadata,
        error=row.error,
        events=[JobEvent(e.name, e.created_at, e.data) for e in events],
        checkpoints=[
            JobCheckpoint(
                c.step_number, c.created_at, c.train_loss, c.valid_loss, c.valid_mean_token_accuracy
            )
            for c in checkpoints
        ],
    )
