"""Runs fine-tuning jobs for the ``JobRunner``: validate, wait for the start, train.

The runner claims a job with a lease it renews while the job runs; when a server stops or dies,
its lease runs out and the next server to look (itself, after a restart) claims the job again:
a job caught VALIDATING is validated again, a RUNNING one resumes from its trainer's last
checkpoint, a CANCELLATION_REQUESTED one ends CANCELLED. With ``checkpoint`` (a shared blob
store), each checkpoint is uploaded as it is made, so the worker that takes a job over resumes
from it on any machine; without, a job taken over on a machine that lacks its run directory
starts its training again (event ``training-restarted``). A cancel reaches a running job through
its lease at once (``lease.stopping``): its trainer is killed within ``poll_seconds``.

Every database call runs in a thread: the event loop serves HTTP meanwhile.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from autan.errors import TrainingFileNotFound
from autan.fine_tuning.fine_tuning_job import FineTuningJob
from autan.fine_tuning.fine_tuning_jobs import KIND, FineTuningJobs
from autan.fine_tuning.shared_checkpoint import CheckpointLost, SharedCheckpoint
from autan.fine_tuning.trainer_process import TrainerProcess
from autan.fine_tuning.training_config import DATA_DIR, STATE_FILE
from autan.jobs.job import JobStatus
from autan.jobs.runner import JobLease
from autan.settings import FineTuningSettings

# Training takes every core there is: one job at a time per process.
MAX_JOBS = 1


class FineTuningExecutor:
    name = KIND

    def __init__(
        self,
        jobs: FineTuningJobs,
        settings: FineTuningSettings,
        work_dir: Path,
        *,
        validate: Callable[[FineTuningJob], Awaitable[bool]],
        prepare_run: Callable[[FineTuningJob], Path],
        finish: Callable[[FineTuningJob], Awaitable[str]],
        checkpoint: SharedCheckpoint | None = None,
    ) -> None:
        self._jobs = jobs
        self._settings = settings
        self._work_dir = work_dir
        self._validate = validate
        self._prepare_run = prepare_run
        self._finish = finish
        self._checkpoint = checkpoint

    async def run(self, lease: JobLease) -> None:
        job = await asyncio.to_thread(self._jobs.get, lease.job.id)
        if job.status is JobStatus.CANCELLATION_REQUESTED or lease.cancel_requested:
            await self._cancelled(job.id)
            return
        if job.status in (JobStatus.QUEUED, JobStatus.VALIDATING):
            if job.status is JobStatus.QUEUED and not await asyncio.to_thread(
                self._jobs.transition,
                job.id,
                JobStatus.VALIDATING,
                only_from=[JobStatus.QUEUED],
            ):
                return
            if not await self._validate(job):
                return
            job = await asyncio.to_thread(self._jobs.get, job.id)
            if job.status is not JobStatus.VALIDATED or not job.start_requested:
                return  # waits for /start; the runner lets the lease go
        if job.status is JobStatus.VALIDATED:
            if not await asyncio.to_thread(
                self._jobs.transition, job.id, JobStatus.RUNNING, only_from=[JobStatus.VALIDATED]
            ):
                return
        elif job.status is JobStatus.RUNNING:
            await asyncio.to_thread(
                self._jobs.add_event, job.id, "resumed", {"reason": "its server restarted"}
            )
        await self._train(lease, await asyncio.to_thread(self._jobs.get, job.id))

    async def _cancelled(self, job_id: str) -> None:
        await self._ending(job_id)
        await asyncio.to_thread(
            self._jobs.transition,
            job_id,
            JobStatus.CANCELLED,
            only_from=[JobStatus.CANCELLATION_REQUESTED],
        )

    async def _ending(self, job_id: str) -> None:
        """Delete the job's shared checkpoint. Before its end status: that lets the lease go,
        and the runner stops a job whose lease is gone at its next heartbeat."""
        if self._checkpoint is not None:
            await self._checkpoint.drop(job_id)

    async def _train(self, lease: JobLease, job: FineTuningJob) -> None:
        run_dir = self._work_dir / job.id
        try:
            try:
                await asyncio.to_thread(self._prepare_run, job)
                if self._checkpoint is not None:
                    await asyncio.to_thread(self._checkpoint.restore, job.id, run_dir)
            except (TrainingFileNotFound, CheckpointLost) as e:  # deleted since validated
                await self._failed(job.id, e.message)
                return
            if job.checkpoints and not (run_dir / STATE_FILE).is_file():
                await asyncio.to_thread(
                    self._jobs.add_event,
                    job.id,
                    "training-restarted",
                    {"reason": "its last checkpoint is on another machine's disk"},
                )
            proc = await TrainerProcess.start(run_dir)
            try:
                code, done, error = await self._watch(lease, job, proc)
            finally:
                await proc.kill()
        finally:
            # Copied again if the job resumes: no file's bytes outlive the job's need.
            await asyncio.to_thread(shutil.rmtree, run_dir / DATA_DIR, ignore_errors=True)
        if lease.lost:
            return  # another worker has the job
        if code is None:  # stopped for a cancel
            await self._cancelled(job.id)
            return
        if code == 0 and done:
            model_id = await self._finish(job)
            await self._ending(job.id)
            if not await asyncio.to_thread(
                self._jobs.transition,
                job.id,
                JobStatus.SUCCESS,
                only_from=[JobStatus.RUNNING],
                result={"fine_tuned_model": model_id},
            ):
                await self._cancelled(job.id)
            return
        await self._failed(
            job.id, error or f"the trainer exited with code {code}: {proc.log_tail()}"
        )

    async def _failed(self, job_id: str, reason: str) -> None:
        await self._ending(job_id)
        await asyncio.to_thread(
            self._jobs.transition,
            job_id,
            JobStatus.FAILED,
            only_from=[JobStatus.RUNNING],
            data={"error": reason},
            result={"error": reason},
        )

    async def _watch(
        self, lease: JobLease, job: FineTuningJob, proc: TrainerProcess
    ) -> tuple[int | None, bool, str | None]:
        """Record the trainer's progress until it exits (its code) or the job is to stop
        (None): (exit code, whether it reported done, the error it reported)."""
        # What a resumed job's earlier trainer reported and this server already recorded.
        recorded = {c.step_number for c in job.checkpoints}
        started = any(e.name == "training-started" for e in job.events)
        resumed = {(e.data or {}).get("step") for e in job.events if e.name == "training-resumed"}
        error: str | None = None
        done = False
        while True:
            code = await proc.wait(self._settings.poll_seconds)
            for event in await asyncio.to_thread(proc.read_progress):
                kind = event.get("type")
                if kind == "checkpoint" and event["step"] not in recorded:
                    recorded.add(event["step"])
                    if self._checkpoint is not None:  # before it counts as made
                        await self._checkpoint.save(lease, proc.run_dir, event["step"])
                    await asyncio.to_thread(self._jobs.add_checkpoint, job.id, event["step"], event)
                    await asyncio.to_thread(
                        self._jobs.update_result, job.id, trained_tokens=event.get("trained_tokens")
                    )
                elif (kind == "resumed" and event["step"] not in resumed) or (
                    kind == "started" and not started
                ):
                    started = True
                    resumed.add(event.get("step"))
                    await asyncio.to_thread(
                        self._jobs.add_event,
                        job.id,
                        f"training-{kind}",
                        {k: v for k, v in event.items() if k not in ("type", "time")},
                    )
                elif kind == "failed":
                    error = str(event.get("error"))
                elif kind == "done":
                    done = True
                    await asyncio.to_thread(
                        self._jobs.update_result, job.id, trained_tokens=event.get("trained_tokens")
                    )
            if code is not None:
                return code, done, error
            if lease.stopping:
                return None, done, error
