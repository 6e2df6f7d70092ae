"""The runner hands a cancel to the job it runs, even one that arrives as the job is claimed;
runs at most ``max_jobs`` at once; hands its jobs back when it stops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from autan.jobs.job import JobStatus
from autan.jobs.job_store import JobStore
from autan.jobs.runner import JobLease, JobRunner
from autan.storage.database import Database
from tests.jobs.test_job_store import new_job


async def start(lease: JobLease) -> None:
    """What a kind does first with a new job: QUEUED -> RUNNING (a cancelled one stays)."""
    await asyncio.to_thread(
        lease.store.transition, lease.job.id, JobStatus.RUNNING, only_from=[JobStatus.QUEUED]
    )


class Recorder:
    name = "test"

    def __init__(self) -> None:
        self.saw_cancel: bool | None = None

    async def run(self, lease: JobLease) -> None:
        self.saw_cancel = lease.cancel_requested
        await start(lease)
        await lease.finish(JobStatus.CANCELLED if lease.stopping else JobStatus.SUCCESS, {})


def test_a_cancel_requested_between_claim_and_run_reaches_the_job(db: Database) -> None:
    store = JobStore(db)
    kind = Recorder()
    job_id = new_job(store)

    async def scenario() -> None:
        runner = JobRunner(store, [kind], lease_seconds=60)
        runner._loop_of_task = asyncio.get_running_loop()
        job = store.claim(["test"], runner.owner, 60)
        assert job is not None and job.status is JobStatus.QUEUED
        # The API records the cancel and tells the runner before run_one has the lease.
        store.request_cancel(job_id, workspace_id="w", kind="test")
        runner.cancelled(job_id)
        await asyncio.sleep(0)
        await runner.run_one(job)

    asyncio.run(scenario())
    assert kind.saw_cancel is True
    ended = store.claim(["test"], "other", 60)
    assert ended is None  # the job ended, cancelled


class Gate:
    """A kind whose jobs run until the test opens the gate; records how many ran at once."""

    name = "test"

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.open = asyncio.Event()

    async def run(self, lease: JobLease) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.open.wait()
        finally:
            self.running -= 1
        await start(lease)
        await lease.finish(JobStatus.SUCCESS, {})


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the runner did not get there")


@pytest.mark.parametrize("max_jobs", [1, 2])
def test_at_most_max_jobs_run_at_once(db: Database, max_jobs: int) -> None:
    store = JobStore(db)
    kind = Gate()
    ids = [new_job(store) for _ in range(3)]

    async def scenario() -> None:
        runner = JobRunner(store, [kind], lease_seconds=60, poll_seconds=0.01, max_jobs=max_jobs)
        runner.start()
        await _until(lambda: kind.running == max_jobs)
        await asyncio.sleep(0.1)  # time enough for the runner to claim more, were it to
        assert kind.running == max_jobs
        kind.open.set()
        await _until(lambda: all(store.get(i).status is JobStatus.SUCCESS for i in ids))
        await runner.close()

    asyncio.run(scenario())
    assert kind.most == max_jobs


def test_close_hands_every_running_job_back_at_once(db: Database) -> None:
    store = JobStore(db)
    kind = Gate()
    ids = {new_job(store) for _ in range(2)}

    async def scenario() -> None:
        runner = JobRunner(store, [kind], lease_seconds=60, poll_seconds=0.01, max_jobs=2)
        runner.start()
        await _until(lambda: kind.running == 2)
        await runner.close()

    asyncio.run(scenario())
    claimed = [store.claim(["test"], "next", 60) for _ in range(2)]
    assert {job.id for job in claimed if job is not None} == ids  # no lease left to expire


class Broken:
    """A kind with a bug that shows before it moves its job on."""

    name = "test"

    async def run(self, lease: JobLease) -> None:
        raise RuntimeError("a bug")


def test_a_job_whose_kind_fails_before_starting_it_ends_failed(db: Database) -> None:
    store = JobStore(db)
    job_id = new_job(store)

    async def scenario() -> None:
        runner = JobRunner(store, [Broken()], lease_seconds=60, poll_seconds=0.01)
        runner.start()
        await _until(lambda: store.get(job_id).status is JobStatus.FAILED)
        await runner.close()

    asyncio.run(scenario())
    assert store.get(job_id).result["errors"] == [{"message": "a bug", "count": 1}]
