import time

from autan.errors import NotFound
from autan.fine_tuning.fine_tuning_job import JobStatus, TrainingFileRef
from autan.fine_tuning.job_store import JobFilter, JobStore
from autan.storage.database import Database


def _job(store: JobStore, workspace: str = "ws", **fields: object) -> str:
    job = store.create(
        workspace_id=workspace,
        model=str(fields.get("model", "tiny")),
        hyperparameters={"learning_rate": 1e-4},
        training_files=[TrainingFileRef("f1", 2.0)],
        validation_files=[],
        suffix=None,
        auto_start=bool(fields.get("auto_start", False)),
    )
    return job.id


def test_status_changes_are_conditional_and_leave_events(db: Database) -> None:
    store = JobStore(db)
    job_id = _job(store)
    assert store.transition(job_id, JobStatus.VALIDATING, only_from=[JobStatus.QUEUED])
    # A second worker (or a cancel) that thinks the job is still QUEUED changes nothing.
    assert not store.transition(job_id, JobStatus.CANCELLED, only_from=[JobStatus.QUEUED])
    assert store.transition(
        job_id, JobStatus.FAILED_VALIDATION, only_from=[JobStatus.VALIDATING], data={"error": "x"}
    )
    job = store.get(job_id)
    assert job.status is JobStatus.FAILED_VALIDATION
    assert job.training_files == [TrainingFileRef("f1", 2.0)]
    assert [e.data for e in job.events] == [
        {"status": "FAILED_VALIDATION", "error": "x"},
        {"status": "VALIDATING"},
        {"status": "QUEUED"},
    ]


def test_jobs_are_scoped_by_workspace_and_filtered(db: Database) -> None:
    store = JobStore(db)
    mine = [_job(store), _job(store, model="other")]
    theirs = _job(store, workspace="someone-else")
    try:
        store.get(theirs, "ws")
        raise AssertionError("another workspace's job was visible")
    except NotFound:
        pass
    jobs, total = store.list("ws", JobFilter(), page=0, page_size=1)
    assert total == 2 and len(jobs) == 1
    jobs, total = store.list("ws", JobFilter(model="other"), page=0, page_size=10)
    assert [j.id for j in jobs] == [mine[1]]
    jobs, _ = store.list("ws", JobFilter(status=JobStatus.SUCCESS), page=0, page_size=10)
    assert jobs == []


def test_a_claim_holds_a_lease_until_it_runs_out(db: Database) -> None:
    store = JobStore(db)
    job_id = _job(store)
    claimed = store.claim("worker-a", lease_seconds=0.5)
    assert claimed is not None and claimed.id == job_id
    assert store.claim("worker-b", lease_seconds=0.5) is None  # leased to worker-a
    store.transition(job_id, JobStatus.VALIDATING, only_from=[JobStatus.QUEUED])
    time.sleep(0.6)  # worker-a died without releasing it
    again = store.claim("worker-b", lease_seconds=5)
    assert again is not None and again.status is JobStatus.VALIDATING
    store.release(job_id, "worker-b")
    # A validated job is only claimed once it is asked to start.
    store.transition(job_id, JobStatus.VALIDATED, only_from=[JobStatus.VALIDATING])
    assert store.claim("worker-b", lease_seconds=5) is None
    store.request_start(job_id)
    assert store.claim("worker-b", lease_seconds=5) is not None
