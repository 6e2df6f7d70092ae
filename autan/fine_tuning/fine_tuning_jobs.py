"""Fine-tuning jobs in the database: jobs of the kind ``fine_tuning`` in the one jobs table,
seen as ``FineTuningJob``s, with their events and checkpoints.

Every status change that lands adds a ``status-updated`` event in the same transaction
(``JobStore.transition``), so the events tell the job's history exactly. A job's request is its
spec (``hyperparameters``, ``training_files``, ``validation_files``, ``suffix``, ``auto_start``);
what it made is its result (``fine_tuned_model``, ``trained_tokens``, ``error``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from autan.errors import NotFound
from autan.fine_tuning.fine_tuning_job import (
    FineTuningJob,
    JobCheckpoint,
    JobEvent,
    TrainingFileRef,
)
from autan.jobs.job import Job, JobStatus
from autan.jobs.job_store import JobFilter, JobStore, new_job
from autan.storage.fine_tuning_tables import FineTuningCheckpointRow, FineTuningEventRow
from autan.storage.job_tables import JobRow
from autan.storage.tables import utcnow

KIND = "fine_tuning"
# Cancelled at once: no trainer runs for a job in these.
WAITING = (JobStatus.QUEUED, JobStatus.VALIDATING, JobStatus.VALIDATED)


class FineTuningJobs:
    def __init__(self, store: JobStore) -> None:
        self.store = store

    def create(
        self,
        *,
        workspace_id: str,
        key_id: str | None,
        model: str,
        hyperparameters: dict[str, Any],
        training_files: list[TrainingFileRef],
        validation_files: list[str],
        suffix: str | None,
        auto_start: bool,
        metadata: dict[str, Any] | None = None,
    ) -> FineTuningJob:
        row = new_job(
            KIND,
            workspace_id=workspace_id,
            key_id=key_id,
            model=model,
            metadata=metadata,
            spec={
                "hyperparameters": hyperparameters,
                "training_files": [
                    {"file_id": f.file_id, "weight": f.weight} for f in training_files
                ],
                "validation_files": validation_files,
                "suffix": suffix,
                "auto_start": auto_start,
            },
            start_requested=auto_start,
        )
        self.store.create(row, lambda s: s.add(_status_event(row.id, JobStatus.QUEUED, None)))
        return self.get(row.id)

    def get(self, job_id: str, workspace_id: str | None = None) -> FineTuningJob:
        """The job with its events (newest first) and checkpoints; 404 when another workspace
        owns it."""
        try:
            job = self.store.get(job_id, workspace_id=workspace_id, kind=KIND)
        except NotFound:
            raise NotFound("fine-tuning job", job_id) from None
        with self.store.db.session() as s:
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
            return _job(job, events, checkpoints)

    def page(
        self,
        workspace_id: str,
        *,
        status: str | None = None,
        model: str | None = None,
        suffix: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        page: int = 0,
        page_size: int = 100,
    ) -> tuple[list[FineTuningJob], int]:
        """One page of the workspace's jobs, newest first, without their events."""
        where = JobFilter(
            kind=KIND,
            statuses=[status] if status else (),
            model=model,
            spec={"suffix": suffix} if suffix is not None else {},
            created_after=created_after,
            created_before=created_before,
        )
        jobs, total = self.store.page(workspace_id, where, page=page, page_size=page_size)
        return [_job(j, [], []) for j in jobs], total

    def transition(
        self,
        job_id: str,
        to: JobStatus,
        *,
        only_from: Iterable[JobStatus],
        data: dict[str, Any] | None = None,
        spec: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> bool:
        """Move the job to ``to`` if it is in one of ``only_from`` (False if it was not), with
        the fields given merged into its own and a ``status-updated`` event carrying ``data``."""

        def change(session: Session, row: JobRow) -> None:
            _merge(row, spec=spec, result=result, metadata=metadata)
            session.add(_status_event(job_id, to, data))

        return self.store.transition(job_id, to, only_from=only_from, change=change) is not None

    def cancel(self, job_id: str, workspace_id: str | None) -> FineTuningJob:
        """Cancel a waiting job at once, ask a running one's worker to stop; a cancelled job
        stays so (200), another finished one is a 409. ``workspace_id`` None: any workspace's
        (the command line)."""
        job = self.get(job_id, workspace_id)
        if job.status is not JobStatus.CANCELLED:

            def change(session: Session, row: JobRow) -> None:
                session.add(_status_event(job_id, JobStatus(row.status), None))

            self.store.request_cancel(
                job_id, workspace_id=workspace_id, kind=KIND, at_once_from=WAITING, change=change
            )
        return self.get(job_id)

    def request_start(self, job_id: str) -> None:
        self.store.request_start(job_id)

    def update_result(self, job_id: str, **result: Any) -> None:
        self.store.update(job_id, lambda _, row: _merge(row, result=result))

    def add_event(self, job_id: str, name: str, data: dict[str, Any] | None = None) -> None:
        with self.store.db.session() as s, s.begin():
            s.add(FineTuningEventRow(job_id=job_id, name=name, data=data, created_at=utcnow()))

    def add_checkpoint(self, job_id: str, step: int, metrics: dict[str, Any]) -> None:
        with self.store.db.session() as s, s.begin():
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


def _merge(
    row: JobRow,
    *,
    spec: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    # New dicts, not mutated ones: SQLAlchemy only sees a JSON column change on assignment.
    if spec:
        row.spec = {**row.spec, **spec}
    if result:
        row.result = {**row.result, **result}
    if metadata:
        row.metadata_ = {**(row.metadata_ or {}), **metadata}


def _status_event(
    job_id: str, status: JobStatus, data: dict[str, Any] | None
) -> FineTuningEventRow:
    return FineTuningEventRow(
        job_id=job_id,
        name="status-updated",
        data={"status": status.value, **(data or {})},
        created_at=utcnow(),
    )


def _job(
    job: Job,
    events: Iterable[FineTuningEventRow],
    checkpoints: Iterable[FineTuningCheckpointRow],
) -> FineTuningJob:
    spec, result = job.spec, job.result
    return FineTuningJob(
        id=job.id,
        workspace_id=job.workspace_id,
        key_id=job.key_id,
        model=job.model or "",
        status=job.status,
        auto_start=bool(spec.get("auto_start")),
        start_requested=job.start_requested,
        hyperparameters=dict(spec.get("hyperparameters") or {}),
        training_files=[
            TrainingFileRef(f["file_id"], f["weight"]) for f in spec.get("training_files", [])
        ],
        validation_files=list(spec.get("validation_files", [])),
        created_at=job.created_at,
        modified_at=job.modified_at,
        suffix=spec.get("suffix"),
        fine_tuned_model=result.get("fine_tuned_model"),
        trained_tokens=result.get("trained_tokens"),
        metadata=job.metadata,
        error=result.get("error"),
        events=[JobEvent(e.name, e.created_at, e.data) for e in events],
        checkpoints=[
            JobCheckpoint(
                c.step_number, c.created_at, c.train_loss, c.valid_loss, c.valid_mean_token_accuracy
            )
            for c in checkpoints
        ],
    )
