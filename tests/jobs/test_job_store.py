"""Claiming under a lease: one holder at a time, a silent holder loses the job, a job ends
once; on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session

from autan.jobs.job import Job, JobStatus
from autan.jobs.job_store import JobStore
from autan.storage.database import Database
from autan.storage.job_tables import JobRow
from autan.storage.tables import utcnow


def new_job(store: JobStore, kind: str = "test") -> str:
    row = JobRow(
        id=str(uuid.uuid4()),
        kind=kind,
        workspace_id="w",
        key_id="k",
        status=JobStatus.QUEUED.value,
        spec={},
        result={},
        total_items=0,
        succeeded_items=0,
        failed_items=0,
        attempts=0,
        created_at=utcnow(),
        deleted=False,
    )
    return store.create(row).id


def claim_and_start(store: JobStore, owner: str, lease_seconds: float) -> Job | None:
    """Claim a job of the kind ``test`` and move it on as a kind does (QUEUED -> RUNNING)."""
    job = store.claim(["test"], owner, lease_seconds=lease_seconds)
    if job is not None and job.status is JobStatus.QUEUED:
        store.transition(job.id, JobStatus.RUNNING, only_from=[JobStatus.QUEUED])
        job = store.get(job.id)
    return job


def test_a_claimed_job_is_held_by_one_worker(db: Database) -> None:
    store = JobStore(db)
    job_id = new_job(store)
    job = store.claim(["test"], "a", lease_seconds=60)
    assert job is not None and job.id == job_id
    assert job.status is JobStatus.QUEUED  # its kind moves it on
    assert job.attempts == 1 and job.started_at is not None
    store.transition(job_id, JobStatus.RUNNING, only_from=[JobStatus.QUEUED])
    assert store.claim(["test"], "b", lease_seconds=60) is None
    assert store.claim(["other"], "a", lease_seconds=60) is None
    assert store.renew(job_id, "a", 60) is JobStatus.RUNNING
    assert store.renew(job_id, "b", 60) is None


def test_a_worker_that_stops_renewing_loses_the_job_to_another(db: Database) -> None:
    store = JobStore(db)
    job_id = new_job(store)
    assert claim_and_start(store, "a", lease_seconds=0.05) is not None
    time.sleep(0.1)  # past the lease: a wait, not a timing assertion
    job = store.claim(["test"], "b", lease_seconds=60)
    assert job is not None and job.id == job_id and job.attempts == 2
    assert store.renew(job_id, "a", 60) is None  # the first worker learns it lost the job
    assert store.finish(job_id, "a", JobStatus.SUCCESS, {"x": 1}) is None
    done = store.finish(job_id, "b", JobStatus.SUCCESS, {"x": 2})
    assert done is not None and done.status is JobStatus.SUCCESS and done.result == {"x": 2}
    assert store.claim(["test"], "c", lease_seconds=60) is None  # ended jobs are not claimed


def test_released_job_is_taken_at_once_and_cancel_reaches_the_holder(db: Database) -> None:
    store = JobStore(db)
    job_id = new_job(store)
    assert claim_and_start(store, "a", lease_seconds=60) is not None
    store.release(job_id, "a")
    assert store.claim(["test"], "b", lease_seconds=60) is not None
    assert store.request_cancel(job_id, workspace_id="w", kind="test").status is (
        JobStatus.CANCELLATION_REQUESTED
    )
    assert store.renew(job_id, "b", 60) is JobStatus.CANCELLATION_REQUESTED
    # The last lines ended as the cancel arrived: the job still ends cancelled.
    done = store.finish(job_id, "b", JobStatus.SUCCESS, {})
    assert done is not None and done.status is JobStatus.CANCELLED


def test_state_machine() -> None:
    assert JobStatus.QUEUED.can_become(JobStatus.RUNNING)
    assert not JobStatus.SUCCESS.can_become(JobStatus.CANCELLATION_REQUESTED)
    assert not JobStatus.QUEUED.can_become(JobStatus.SUCCESS)
    assert JobStatus.VALIDATING.can_become(JobStatus.FAILED_VALIDATION)
    assert JobStatus.FAILED_VALIDATION.terminal and not JobStatus.VALIDATED.terminal
    assert all(s.terminal for s in (JobStatus.SUCCESS, JobStatus.CANCELLED))


def test_a_cancel_is_never_overwritten_by_a_change_read_before_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker reads the job QUEUED; the API cancels it; the worker's QUEUED -> RUNNING,
    decided on what it read, must not land (the cancel would be lost)."""
    store = JobStore(db)
    job_id = new_job(store)
    moved = JobStore._moved
    raced: list[bool] = []

    def cancel_in_between(session: Session, row: JobRow, to: JobStatus, **kw: Any) -> bool:
        if not raced:
            raced.append(True)
            store.request_cancel(job_id, workspace_id="w", kind="test")
        return moved(session, row, to, **kw)

    monkeypatch.setattr(JobStore, "_moved", staticmethod(cancel_in_between))
    assert store.transition(job_id, JobStatus.RUNNING, only_from=[JobStatus.QUEUED]) is None
    assert store.get(job_id).status is JobStatus.CANCELLATION_REQUESTED
