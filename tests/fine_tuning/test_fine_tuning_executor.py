"""A fine-tuning job through the one job runner, from QUEUED to its end, with every database
call made off the event loop (the loop serves HTTP meanwhile); and a RUNNING job taken over
from a dead worker whose checkpoint cannot be had."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from autan.fine_tuning.fine_tuning_executor import FineTuningExecutor
from autan.fine_tuning.fine_tuning_job import FineTuningJob
from autan.fine_tuning.fine_tuning_jobs import KIND, FineTuningJobs
from autan.fine_tuning.shared_blobs import SharedBlobs
from autan.fine_tuning.shared_checkpoint import RESULT_KEY, SharedCheckpoint
from autan.jobs.job import JobStatus
from autan.jobs.job_store import JobStore
from autan.jobs.runner import JobRunner
from autan.settings import FineTuningSettings
from autan.storage.database import Database
from autan.storage.database_blob_store import DatabaseBlobStore
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


def _running_with_a_checkpoint(jobs: FineTuningJobs) -> FineTuningJob:
    """A job its worker left RUNNING (dead, its lease lapsed) after one checkpoint."""
    job = waiting_job(jobs)
    for before, after in (
        (JobStatus.QUEUED, JobStatus.VALIDATING),
        (JobStatus.VALIDATING, JobStatus.VALIDATED),
        (JobStatus.VALIDATED, JobStatus.RUNNING),
    ):
        assert jobs.transition(job.id, after, only_from=[before])
    jobs.add_checkpoint(job.id, 1, {})
    return job


def _take_over(executor: FineTuningExecutor, jobs: FineTuningJobs, job: FineTuningJob) -> None:
    async def scenario() -> None:
        runner = JobRunner(jobs.store, [], poll_seconds=0.05)
        runner.add(executor, max_jobs=1)
        runner.start()
        try:
            for _ in range(600):
                if (await asyncio.to_thread(jobs.get, job.id)).status is JobStatus.FAILED:
                    return
                await asyncio.sleep(0.05)
            raise AssertionError("the job never failed")
        finally:
            await runner.close()

    asyncio.run(scenario())


def test_a_job_taken_over_without_its_checkpoint_trains_again_or_fails_with_the_reason(
    off_loop: Database, tmp_path: Path
) -> None:
    jobs = FineTuningJobs(JobStore(off_loop))

    async def never(job: FineTuningJob) -> Any:
        raise AssertionError("a running job is neither validated nor finished here")

    def prepare_run(job: FineTuningJob) -> Path:
        (tmp_path / "bad.jsonl").write_text('{"messages": []}\n')  # refused at once
        return one_step_config(tmp_path, tmp_path / "bad.jsonl").write(tmp_path / "work" / job.id)

    def executor(checkpoint: SharedCheckpoint | None) -> FineTuningExecutor:
        return FineTuningExecutor(
            jobs,
            FineTuningSettings(poll_seconds=0.05),
            tmp_path / "work",
            validate=never,
            prepare_run=prepare_run,
            finish=never,
            checkpoint=checkpoint,
        )

    # Its checkpoint was on the dead machine's disk: it trains again, and says so.
    job = _running_with_a_checkpoint(jobs)
    _take_over(executor(None), jobs, job)
    ended = jobs.get(job.id)
    assert "training-restarted" in [e.name for e in ended.events]
    assert ended.error is not None and "InvalidTrainingData" in ended.error

    # Its checkpoint is recorded in the shared store but its blob is gone: FAILED, not stuck.
    job = _running_with_a_checkpoint(jobs)
    gone = {"key": "ckpt-gone", "size": 1, "sha256": "0" * 64, "step": 1}
    jobs.store.update(job.id, lambda _, row: setattr(row, "result", {RESULT_KEY: gone}))
    shared = SharedCheckpoint(SharedBlobs(DatabaseBlobStore(off_loop)), jobs)
    _take_over(executor(shared), jobs, job)
    ended = jobs.get(job.id)
    assert ended.error is not None and "could not be fetched" in ended.error
    assert "training-restarted" not in [e.name for e in ended.events]
