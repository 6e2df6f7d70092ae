"""Fine-tuning jobs in the one jobs table: conditional status changes that leave events,
workspace scoping and filters, and claims by the shared job store."""

import time

from autan.errors import NotFound
from autan.fine_tuning.fine_tuning_job import TrainingFileRef
from autan.fine_tuning.fine_tuning_jobs import KIND, FineTuningJobs
from autan.jobs.job import JobStatus
from autan.jobs.job_store import JobStore
from autan.storage.database import Database


def _job(jobs: FineTuningJobs, workspace: str = "ws", **fields: object) -> str:
    job = jobs.create(
        workspace_id=workspace,
        key_id=None,
        model=str(fields.get("model", "tiny")),
        hyperparameters={"learning_rate": 1e-4},
        training_files=[TrainingFileRef("f1", 2.0)],
        validation_files=[],
        suffix=fields.get("suffix"),  # type: ignore[arg-type]
        auto_start=bool(fields.get("auto_start", False)),
    )
    return job.id


def test_status_changes_are_conditional_and_leave_events(db: Database) -> None:
    jobs = FineTuningJobs(JobStore(db))
    job_id = _job(jobs)
    assert jobs.transition(job_id, JobStatus.VALIDATING, only_from=[JobStatus.QUEUED])
    # A second worker (or a cancel) that thinks the job is still QUEUED changes nothing.
    assert not jobs.transition(job_id, JobStatus.CANCELLED, only_from=[JobStatus.QUEUED])
    assert jobs.transition(
        job_id,
        JobStatus.FAILED_VALIDATION,
        only_from=[JobStatus.VALIDATING],
        data={"error": "x"},
        result={"error": "x"},
    )
    job = jobs.get(job_id)
    assert job.status is JobStatus.FAILED_VALIDATION and job.error == "x"
    assert job.training_files == [TrainingFileRef("f1", 2.0)]
    assert [e.data for e in job.events] == [
        {"status": "FAILED_VALIDATION", "error": "x"},
        {"status": "VALIDATING"},
        {"status": "QUEUED"},
    ]


def test_jobs_are_scoped_by_workspace_and_kind_and_filtered(db: Database) -> None:
    store = JobStore(db)
    jobs = FineTuningJobs(store)
    mine = [_job(jobs, suffix="a"), _job(jobs, model="other")]
    theirs = _job(jobs, workspace="someone-else")
    try:
        jobs.get(theirs, "ws")
        raise AssertionError("another workspace's job was visible")
    except NotFound:
        pass
    listed, total = jobs.page("ws", page=0, page_size=1)
    assert total == 2 and len(listed) == 1
    listed, _ = jobs.page("ws", model="other", page=0, page_size=10)
    assert [j.id for j in listed] == [mine[1]]
    listed, _ = jobs.page("ws", suffix="a", page=0, page_size=10)
    assert [j.id for j in listed] == [mine[0]]
    listed, _ = jobs.page("ws", status="SUCCESS", page=0, page_size=10)
    assert listed == []
    assert store.get(mine[0]).kind == KIND


def test_a_cancel_ends_a_waiting_job_at_once_and_asks_a_running_one(db: Database) -> None:
    jobs = FineTuningJobs(JobStore(db))
    waiting, running = _job(jobs), _job(jobs)
    assert jobs.cancel(waiting, "ws").status is JobStatus.CANCELLED
    assert jobs.cancel(waiting, "ws").status is JobStatus.CANCELLED  # harmless again
    jobs.transition(running, JobStatus.VALIDATING, only_from=[JobStatus.QUEUED])
    jobs.transition(running, JobStatus.VALIDATED, only_from=[JobStatus.VALIDATING])
    jobs.request_start(running)
    jobs.transition(running, JobStatus.RUNNING, only_from=[JobStatus.VALIDATED])
    job = jobs.cancel(running, "ws")
    assert job.status is JobStatus.CANCELLATION_REQUESTED
    assert [e.data for e in job.events][:2] == [
        {"status": "CANCELLATION_REQUESTED"},
        {"status": "RUNNING"},
    ]


def test_a_claim_holds_a_lease_and_a_validated_job_waits_for_its_start(db: Database) -> None:
    store = JobStore(db)
    jobs = FineTuningJobs(store)
    job_id = _job(jobs)
    claimed = store.claim([KIND], "worker-a", lease_seconds=0.5)
    assert claimed is not None and claimed.id == job_id
    assert claimed.status is JobStatus.QUEUED  # the kind moves it on, with its event
    assert store.claim([KIND], "worker-b", lease_seconds=0.5) is None  # leased to worker-a
    jobs.transition(job_id, JobStatus.VALIDATING, only_from=[JobStatus.QUEUED])
    time.sleep(0.6)  # worker-a died without releasing it
    again = store.claim([KIND], "worker-b", lease_seconds=5)
    assert again is not None and again.status is JobStatus.VALIDATING
    store.release(job_id, "worker-b")
    # A validated job is only claimed once it is asked to start.
    jobs.transition(job_id, JobStatus.VALIDATED, only_from=[JobStatus.VALIDATING])
    assert store.claim([KIND], "worker-b", lease_seconds=5) is None
    jobs.request_start(job_id)
    assert store.claim([KIND], "worker-b", lease_seconds=5) is not None
