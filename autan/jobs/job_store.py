"""Jobs in the database: created, listed, cancelled, and claimed under a lease.

Claiming is a compare-and-set on the lease columns (an UPDATE that only matches a job nobody
holds, or whose holder stopped renewing), so it works the same on SQLite and PostgreSQL and two
workers never hold one job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from autan.errors import Conflict, NotFound
from autan.jobs.job import LIVE, Job, JobStatus
from autan.storage.database import Database
from autan.storage.job_tables import JobRow
from autan.storage.tables import utcnow


@dataclass(frozen=True, slots=True)
class JobFilter:
    kind: str
    statuses: Sequence[str] = ()
    model: str | None = None
    created_after: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    key_id: str | None = None
    newest_first: bool = True


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, row: JobRow, add_children: Callable[[Session], None] | None = None) -> Job:
        """Insert the job with the rows its kind adds (a batch's lines), all or nothing."""
        with self.db.session() as session, session.begin():
            session.add(row)
            session.flush()
            if add_children is not None:
                add_children(session)
        return Job.from_row(row)

    def get(self, job_id: str, *, workspace_id: str | None = None, kind: str | None = None) -> Job:
        """The job; 404 for one of another workspace or kind, as for one that does not exist."""
        with self.db.session() as session:
            row = session.get(JobRow, job_id)
            if (
                row is None
                or row.deleted
                or (workspace_id is not None and row.workspace_id != workspace_id)
                or (kind is not None and row.kind != kind)
            ):
                raise NotFound("job", job_id)
            return Job.from_row(row)

    def page(
        self, workspace_id: str | None, where: JobFilter, *, page: int, page_size: int
    ) -> tuple[list[Job], int]:
        """One page of the matching jobs and how many match in all; every workspace's when
        ``workspace_id`` is None (the command line)."""
        query = select(JobRow).where(JobRow.kind == where.kind, ~JobRow.deleted)
        if workspace_id is not None:
            query = query.where(JobRow.workspace_id == workspace_id)
        if where.statuses:
            query = query.where(JobRow.status.in_(where.statuses))
        if where.model:
            query = query.where(JobRow.model == where.model)
        if where.created_after:
            query = query.where(JobRow.created_at > where.created_after)
        if where.key_id:
            query = query.where(JobRow.key_id == where.key_id)
        order = JobRow.created_at.desc() if where.newest_first else JobRow.created_at.asc()
        query = query.order_by(order, JobRow.id)
        with self.db.session() as session:
            if where.metadata:
                # Metadata is JSON, compared alike on both databases only in Python.
                jobs = [
                    Job.from_row(r)
                    for r in session.scalars(query)
                    if all((r.metadata_ or {}).get(k) == v for k, v in where.metadata.items())
                ]
                return jobs[page * page_size : (page + 1) * page_size], len(jobs)
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.offset(page * page_size).limit(page_size))
            return [Job.from_row(r) for r in rows], total

    def request_cancel(self, job_id: str, *, workspace_id: str | None, kind: str) -> Job:
        """Ask the worker to stop; a finished job stays as it is (409)."""
        with self.db.session() as session, session.begin():
            row = self._row(session, job_id, workspace_id, kind)
            status = JobStatus(row.status)
            if status is JobStatus.CANCELLATION_REQUESTED:
                return Job.from_row(row)
            if not status.can_become(JobStatus.CANCELLATION_REQUESTED):
                raise Conflict(f"Job {job_id} is {status.value} and can no longer be cancelled")
            row.status = JobStatus.CANCELLATION_REQUESTED.value
            return Job.from_row(row)

    def delete(self, job_id: str, *, workspace_id: str, kind: str) -> None:
        """Forget a finished job; a live one must be cancelled first (409)."""
        with self.db.session() as session, session.begin():
            row = self._row(session, job_id, workspace_id, kind)
            if not JobStatus(row.status).terminal:
                raise Conflict(f"Job {job_id} is {row.status}: cancel it before deleting it")
            row.deleted = True

    @staticmethod
    def _row(session: Session, job_id: str, workspace_id: str | None, kind: str) -> JobRow:
        row: JobRow | None = session.get(JobRow, job_id)
        if (
            row is None
            or row.deleted
            or row.kind != kind
            or (workspace_id is not None and row.workspace_id != workspace_id)
        ):
            raise NotFound("job", job_id)
        return row

    # The worker's side.

    def claim(self, kinds: Sequence[str], owner: str, lease_seconds: float) -> Job | None:
        """Take the oldest live job of these kinds that nobody holds, for ``lease_seconds``."""
        now = utcnow()
        free = or_(JobRow.lease_owner.is_(None), JobRow.lease_expires_at < now)
        with self.db.session() as session:
            candidates = session.scalars(
                select(JobRow.id)
                .where(
                    JobRow.kind.in_(kinds),
                    JobRow.status.in_([s.value for s in LIVE]),
                    ~JobRow.deleted,
                    free,
                )
                .order_by(JobRow.created_at)
                .limit(8)
            ).all()
        for job_id in candidates:
            with self.db.session() as session, session.begin():
                taken = session.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, free)
                    .values(
                        lease_owner=owner,
                        lease_expires_at=now + timedelta(seconds=lease_seconds),
                        attempts=JobRow.attempts + 1,
                        started_at=func.coalesce(JobRow.started_at, now),
                    )
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                row = session.get(JobRow, job_id)
                assert row is not None, f"job {job_id} vanished inside its own transaction"
                if row.status == JobStatus.QUEUED.value:
                    row.status = JobStatus.RUNNING.value
                return Job.from_row(row)
        return None

    def renew(self, job_id: str, owner: str, lease_seconds: float) -> JobStatus | None:
        """Extend the lease; the job's status now, or None when ``owner`` no longer holds it."""
        with self.db.session() as session, session.begin():
            renewed = session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.lease_owner == owner)
                .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
                .execution_options(synchronize_session=False)
            )
            if renewed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            status = session.scalar(select(JobRow.status).where(JobRow.id == job_id))
            return None if status is None else JobStatus(status)

    def finish(
        self, job_id: str, owner: str, status: JobStatus, result: dict[str, Any]
    ) -> Job | None:
        """Record the end and let go; None (nothing written) when ``owner`` lost the job."""
        assert status.terminal, f"{status} is not an end state"
        with self.db.session() as session, session.begin():
            row = session.get(JobRow, job_id)
            if row is None or row.lease_owner != owner:
                return None
            current = JobStatus(row.status)
            if not current.can_become(status):
                # A cancel that arrived while the last lines ran still wins.
                assert current is JobStatus.CANCELLATION_REQUESTED, f"{current} -> {status}"
                status = JobStatus.CANCELLED
            row.status = status.value
            row.result = {**row.result, **result}
            row.completed_at = utcnow()
            row.lease_owner = None
            row.lease_expires_at = None
            return Job.from_row(row)

    def release(self, job_id: str, owner: str) -> None:
        """Give the job back unfinished (a clean stop): the next worker takes it at once."""
        with self.db.session() as session, session.begin():
            session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )
