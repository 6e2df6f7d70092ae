"""A fine-tuning job through the one job runner, from QUEUED to its end, with every database
call made off the event loop (the loop serves HTTP meanwhile)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from autan.fine_tuning.fine_tuning_executor import FineTuningExecutor
from autan.fine_tuning.fine_tuning_job import FineTuningJob
from autan.fine_tuning.fine_tuning_jobs import KIND, FineTuningJobs
from autan.jobs.job import JobStatus
from autan.jobs.job_store import JobStore
from autan.jobs.runner import JobRunner
from autan.settings import FineTuningSettings
from autan.storage.database import Database
from tests.fine_tuning.minimal import one_step_config, waiting_job


class OffLoopDatabase(Database):
    """Refuses a session on a thread that runs an event loop."""

    def session(self) -> Session:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return super().session()
        raise AssertionError("a database call blocked the event loop")


@pytest.fixture
def off_loop(db: Database) -> Iterator[Database]:
    guarded = OffLoopDatabase(db.url)
    yield guarded
    guarded.close()


def test_a_job_validates_waits_for_its_start_then_trains_off_the_loop(
    off_loop: Database, tmp_path: Path
) -> None:
    jobs = FineTuningJobs(JobStore(off_loop))

    async def validate(job: FineTuningJob) -> bool:
        return await asyncio.to_thread(
            jobs.transition, job.id, JobStatus.VALIDATED, only_from=[JobStatus.VALIDATING]
        )

    def prepare_run(job: FineTuningJob) -> Path:
        # Data the trainer refuses at once, before it imports torch.
        (tmp_path / "bad.jsonl").write_text('{"messages": []}\n')
        return one_step_config(tmp_path, tmp_path / "bad.jsonl").write(tmp_path / "work" / job.id)

    async def finish(job: FineTuningJob) -> str:
        raise AssertionError("the trainer was to fail")

    executor = FineTuningExecutor(
        jobs,
        FineTuningSettings(poll_seconds=0.05),
        tmp_path / "work",
        validate=validate,
        prepare_run=prepare_run,
        finish=finish,
    )
    job = waiting_job(jobs)

    async def until(status: JobStatus) -> None:
        for _ in range(600):
            if (await asyncio.to_thread(jobs.get, job.id)).status is status:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the job never became {status}")

    async def scenario() -> None:
        runner = JobRunner(jobs.store, [], poll_seconds=0.05)
        runner.add(executor, max_jobs=1)
        runner.start()
        try:
            await until(JobStatus.VALIDATED)
            await asyncio.to_thread(jobs.request_start, job.id)
            runner.wake()
            await until(JobStatus.FAILED)
        finally:
            await runner.close()

    asyncio.run(scenario())
    ended = jobs.get(job.id)
    assert [e.data["status"] for e in reversed(ended.events) if e.data] == [
        "QUEUED",
        "VALIDATING",
        "VALIDATED",
        "RUNNING",
        "FAILED",
    ]
    assert ended.error is not None and "InvalidTrainingData" in ended.error
    assert JobStore(off_loop).claim([KIND], "anyone", 60) is None  # ended, lease let go
