"""Jobs of every kind in the database: created, listed, moved from status to status,
cancelled, and claimed under a lease.

Claiming is a compare-and-set on the lease columns (an UPDATE that only matches a job nobody
holds, or whose holder stopped renewing), so it works the same on SQLite and PostgreSQL and two
workers never hold one job. A status change reads the row locked (``FOR UPDATE`` where the
database has it; SQLite writes one at a time) and lands only from the statuses it names, so a
cancel and a worker finishing the same job cannot both win; a kind records its own rows (a
fine-tuning job's events) in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
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

# What a kind writes along with a status change or an update, in the same transaction.
RowChange = Callable[[Session, JobRow], None]


@dataclass(frozen=True, slots=True)
class JobFilter:
    kind: str
    statuses: Sequence[str] = ()
    model: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)  # entries the job's spec must have
    key_id: str | None = None
    newest_first: bool = True


def new_job(
    kind: str,
    *,
    workspace_id: str,
    key_id: str | None,
    model: str | None,
    metadata: dict[str, Any] | None,
    spec: dict[str, Any],
    **fields: Any,
) -> JobRow:
    """A QUEUED job of ``kind``, not yet stored, with nothing done; ``fields`` set the rest
    (``total_items``, ``deadline``, ``start_requested``...)."""
    now = utcnow()
    values: dict[str, Any] = {
        "total_items": 0,
        "succeeded_items": 0,
        "failed_items": 0,
        **fields,
    }
    return JobRow(
        id=str(uuid.uuid4()),
        kind=kind,
        workspace_id=workspace_id,
        key_id=key_id,
        status=JobStatus.QUEUED.value,
        model=model,
        metadata_=metadata,
        spec=spec,
        result={},
        attempts=0,
        created_at=now,
        modified_at=now,
        deleted=False,
        **values,
    )


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
        if where.created_before:
            query = query.where(JobRow.created_at < where.created_before)
        if where.key_id:
            query = query.where(JobRow.key_id == where.key_id)
        order = JobRow.created_at.desc() if where.newest_first else JobRow.created_at.asc()
        query = query.order_by(order, JobRow.id)
        with self.db.session() as session:
            if where.metadata or where.spec:
                # JSON columns, compared alike on both databases only in Python.
                jobs = [
                    Job.from_row(r)
                    for r in session.scalars(query)
                    if all((r.metadata_ or {}).get(k) == v for k, v in where.metadata.items())
                    and all(r.spec.get(k) == v for k, v in where.spec.items())
                ]
                return jobs[page * page_size : (page + 1) * page_size], len(jobs)
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.offset(page * page_size).limit(page_size))
            return [Job.from_row(r) for r in rows], total

    def census(self) -> list[tuple[str, str, int, int, int, int]]:
        """Jobs on record (deleted ones aside) grouped by kind and status: (kind, status, jobs,
        their items, succeeded items, failed items). One grouped query, for metrics."""
        query = (
            select(
                JobRow.kind,
                JobRow.status,
                func.count(),
                func.coalesce(func.sum(JobRow.total_items), 0),
                func.coalesce(func.sum(JobRow.succeeded_items), 0),
                func.coalesce(func.sum(JobRow.failed_items), 0),
            )
            .where(~JobRow.deleted)
            .group_by(JobRow.kind, JobRow.status)
        )
        with self.db.session() as session:
            return [
                (kind, status, int(n), int(items), int(ok), int(failed))
                for kind, status, n, items, ok, failed in session.execute(query)
            ]

    def request_cancel(
        self,
        job_id: str,
        *,
        workspace_id: str | None,
        kind: str,
        at_once_from: Iterable[JobStatus] = (),
        change: RowChange | None = None,
    ) -> Job:
        """Ask the worker to stop; a job in one of ``at_once_from`` (only waiting) is cancelled
        here and now. A finished job stays as it is (409)."""
        while True:  # until the status read is still the job's when it is changed
            with self.db.session() as session, session.begin():
                row = self._row(session, job_id, workspace_id, kind)
                status = JobStatus(row.status)
                if status is JobStatus.CANCELLATION_REQUESTED:
                    return Job.from_row(row)
                if not status.can_become(JobStatus.CANCELLATION_REQUESTED):
                    raise Conflict(f"Job {job_id} is {status.value} and can no longer be cancelled")
                to = (
                    JobStatus.CANCELLED
                    if status in frozenset(at_once_from)
                    else JobStatus.CANCELLATION_REQUESTED
                )
                if self._moved(session, row, to):
                    if change is not None:
                        change(session, row)
                    return Job.from_row(row)

    def delete(self, job_id: str, *, workspace_id: str, kind: str) -> None:
        """Forget a finished job; a live one must be cancelled first (409)."""
        with self.db.session() as session, session.begin():
            row = self._row(session, job_id, workspace_id, kind)
            if not JobStatus(row.status).terminal:
                raise Conflict(f"Job {job_id} is {row.status}: cancel it before deleting it")
            row.deleted = True

    def transition(
        self,
        job_id: str,
        to: JobStatus,
        *,
        only_from: Iterable[JobStatus],
        change: RowChange | None = None,
    ) -> Job | None:
        """Move the job to ``to`` if it is in one of ``only_from`` (None, nothing written, if
        it was not), with ``change`` in the same transaction. An end status lets the lease go."""
        while True:  # until the status read is still the job's when it is changed
            with self.db.session() as session, session.begin():
                row = session.get(JobRow, job_id)
                if row is None or JobStatus(row.status) not in frozenset(only_from):
                    return None
                assert JobStatus(row.status).can_become(to), f"{row.status} -> {to}"
                if self._moved(session, row, to):
                    if change is not None:
                        change(session, row)
                    return Job.from_row(row)

    def update(self, job_id: str, change: RowChange) -> None:
        """Change the job's own fields (its spec, its result so far), its status untouched."""
        with self.db.session() as session, session.begin():
            row = session.get(JobRow, job_id, with_for_update=True)
            if row is None:
                raise NotFound("job", job_id)
            # The ORM writes only the columns changed here: never the status, which only
            # _moved changes.
            change(session, row)
            row.modified_at = utcnow()

    def request_start(self, job_id: str) -> None:
        """Let a job waiting VALIDATED be taken by a worker and run."""
        with self.db.session() as session, session.begin():
            session.execute(
                update(JobRow)
                .where(JobRow.id == job_id)
                .values(start_requested=True, modified_at=utcnow())
                .execution_options(synchronize_session=False)
            )

    @staticmethod
    def _moved(session: Session, row: JobRow, to: JobStatus, *, owner: str | None = None) -> bool:
        """Move ``row`` to ``to`` if the database still holds the status read (and ``owner``
        still holds its lease): a compare-and-set, because a read takes no lock on SQLite, and
        a cancel must never be overwritten by a worker's change read before it. Then ``row``
        is read again, within this transaction."""
        now = utcnow()
        values: dict[str, Any] = {"status": to.value, "modified_at": now}
        if to.terminal:
            values.update(completed_at=now, lease_owner=None, lease_expires_at=None)
        where = [JobRow.id == row.id, JobRow.status == row.status]
        if owner is not None:
            where.append(JobRow.lease_owner == owner)
        moved = session.execute(
            update(JobRow)
            .where(*where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return False
        session.refresh(row)
        return True

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
        """Take the oldest live job of these kinds that nobody holds, for ``lease_seconds``; a
        VALIDATED job only once it is asked to start. Its status is the kind's to change."""
        now = utcnow()
        free = or_(JobRow.lease_owner.is_(None), JobRow.lease_expires_at < now)
        waiting = (JobRow.status == JobStatus.VALIDATED.value) & ~JobRow.start_requested
        with self.db.session() as session:
            candidates = session.scalars(
                select(JobRow.id)
                .where(
                    JobRow.kind.in_(kinds),
                    JobRow.status.in_([s.value for s in LIVE]),
                    ~waiting,
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
        while True:  # until the status read is still the job's when it is changed
            with self.db.session() as session, session.begin():
                row = session.get(JobRow, job_id)
                if row is None or row.lease_owner != owner:
                    return None
                current, end = JobStatus(row.status), status
                if not current.can_become(end):
                    # A cancel that arrived while the last lines ran still wins.
                    assert current is JobStatus.CANCELLATION_REQUESTED, f"{current} -> {end}"
                    end = JobStatus.CANCELLED
                if self._moved(session, row, end, owner=owner):
                    row.result = {**row.result, **result}
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
