"""The runner hands a cancel to the job it runs, even one that arrives as the job is claimed."""

from __future__ import annotations

import asyncio

from autan.jobs.job import JobStatus
from autan.jobs.job_store import JobStore
from autan.jobs.runner import JobLease, JobRunner
from autan.storage.database import Database
from tests.jobs.test_job_store import new_job


class Recorder:
    name = "test"

    def __init__(self) -> None:
        self.saw_cancel: bool | None = None

    async def run(self, lease: JobLease) -> None:
        self.saw_cancel = lease.cancel_requested
        await lease.finish(JobStatus.CANCELLED if lease.stopping else JobStatus.SUCCESS, {})


def test_a_cancel_requested_between_claim_and_run_reaches_the_job(db: Database) -> None:
    store = JobStore(db)
    kind = Recorder()
    job_id = new_job(store)

    async def scenario() -> None:
        runner = JobRunner(store, [kind], lease_seconds=60)
        runner._loop_of_task = asyncio.get_running_loop()
        job = store.claim(["test"], runner.owner, 60)
        assert job is not None and job.status is JobStatus.RUNNING
        # The API records the cancel and tells the runner before run_one has the lease.
        store.request_cancel(job_id, workspace_id="w", kind="test")
        runner.cancelled(job_id)
        await asyncio.sleep(0)
        await runner.run_one(job)

    asyncio.run(scenario())
    assert kind.saw_cancel is True
    ended = store.claim(["test"], "other", 60)
    assert ended is None  # the job ended, cancelled
