"""The in-process worker of fine-tuning jobs: claim a job, advance it, repeat.

One job at a time (training takes every core there is). A claim takes a lease that the loop
renews while it works; when a server stops or dies, its lease runs out and the next server to
look (itself, after a restart) claims the job again: a job caught VALIDATING is validated again,
a RUNNING one resumes from its trainer's last checkpoint, a CANCELLATION_REQUESTED one ends
CANCELLED. This module is the only one that knows how jobs are scheduled, so it can move onto a
generic job runner without touching the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import uuid
from collections.abc import Callable
from typing import Any

from autan.fine_tuning.fine_tuning_job import FineTuningJob, JobStatus
from autan.fine_tuning.job_store import JobStore
from autan.fine_tuning.trainer_process import TrainerProcess
from autan.fine_tuning.training_config import DATA_DIR
from autan.settings import FineTuningSettings

log = logging.getLogger(__name__)


class JobLoop:
    def __init__(
        self,
        store: JobStore,
        settings: FineTuningSettings,
        *,
        validate: Callable[[FineTuningJob], Any],
        prepare_run: Callable[[FineTuningJob], Any],
        finish: Callable[[FineTuningJob], str],
    ) -> None:
        self._store = store
        self._settings = settings
        self._validate = validate
        self._prepare_run = prepare_run
        self._finish = finish
        self.owner = f"worker-{uuid.uuid4().hex[:12]}"
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fine-tuning-jobs")

    def wake(self) -> None:
        self._wakeup.set()

    async def stop(self) -> None:
        """Stop after killing any trainer; its job stays RUNNING and resumes on the next start."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not self._stopping:
            job = await asyncio.to_thread(
                self._store.claim, self.owner, self._settings.lease_seconds
            )
            if job is None:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._settings.poll_seconds)
                continue
            try:
                await self._advance(job)
            except Exception as e:  # a bug in one job must not stop the others
                log.exception("fine-tuning job %s failed", job.id)
                self._store.transition(
                    job.id,
                    JobStatus.FAILED,
                    only_from=[JobStatus.VALIDATING, JobStatus.RUNNING],
                    data={"error": f"internal error: {e}"},
                    error=f"internal error: {e}",
                )
            finally:
                self._store.release(job.id, self.owner)

    async def _advance(self, job: FineTuningJob) -> None:
        if job.status is JobStatus.CANCELLATION_REQUESTED:
            self._cancelled(job.id)
            return
        if job.status in (JobStatus.QUEUED, JobStatus.VALIDATING):
            if job.status is JobStatus.QUEUED and not self._store.transition(
                job.id, JobStatus.VALIDATING, only_from=[JobStatus.QUEUED]
            ):
                return
            ok = await self._validate(job)
            job = self._store.get(job.id)
            if not ok or job.status is not JobStatus.VALIDATED or not job.start_requested:
                return
        if job.status is JobStatus.VALIDATED:
            if not self._store.transition(
                job.id, JobStatus.RUNNING, only_from=[JobStatus.VALIDATED]
            ):
                return
        elif job.status is JobStatus.RUNNING:
            self._store.add_event(job.id, "resumed", {"reason": "its server restarted"})
        await self._train(self._store.get(job.id))

    def _cancelled(self, job_id: str) -> None:
        self._store.transition(
            job_id, JobStatus.CANCELLED, only_from=[JobStatus.CANCELLATION_REQUESTED]
        )

    async def _train(self, job: FineTuningJob) -> None:
        run_dir = self._prepare_run(job)
        proc = await TrainerProcess.start(run_dir)
        # What a resumed job's earlier trainer reported and this server already recorded.
        recorded = {c.step_number for c in job.checkpoints}
        started = any(e.name == "training-started" for e in job.events)
        resumed = {(e.data or {}).get("step") for e in job.events if e.name == "training-resumed"}
        error: str | None = None
        done = False
        try:
            while True:
                code = await proc.wait(self._settings.poll_seconds)
                for event in proc.read_progress():
                    kind = event.get("type")
                    if kind == "checkpoint" and event["step"] not in recorded:
                        recorded.add(event["step"])
                        self._store.add_checkpoint(job.id, event["step"], event)
                        self._store.update(job.id, trained_tokens=event.get("trained_tokens"))
                    elif (kind == "resumed" and event["step"] not in resumed) or (
                        kind == "started" and not started
                    ):
                        started = True
                        resumed.add(event.get("step"))
                        self._store.add_event(
                            job.id,
                            f"training-{kind}",
                            {k: v for k, v in event.items() if k not in ("type", "time")},
                        )
                    elif kind == "failed":
                        error = str(event.get("error"))
                    elif kind == "done":
                        done = True
                        self._store.update(job.id, trained_tokens=event.get("trained_tokens"))
                if code is not None:
                    break
                if self._stopping:
                    return  # killed below; the job stays RUNNING and resumes next time
                self._store.renew(job.id, self.owner, self._settings.lease_seconds)
                if self._store.get(job.id).status is JobStatus.CANCELLATION_REQUESTED:
                    await proc.kill()
                    self._cancelled(job.id)
                    return
        finally:
            await proc.kill()
            # Copied again if the job resumes: no file's bytes outlive the job's need.
            shutil.rmtree(run_dir / DATA_DIR, ignore_errors=True)
        if code == 0 and done:
            if self._store.get(job.id).status is not JobStatus.RUNNING:
                self._cancelled(job.id)
                return
            model_id = self._finish(job)
            if not self._store.transition(
                job.id,
                JobStatus.SUCCESS,
                only_from=[JobStatus.RUNNING],
                fine_tuned_model=model_id,
            ):
                self._cancelled(job.id)
            return
        reason = error or f"the trainer exited with code {code}: {proc.log_tail()}"
        self._store.transition(
            job.id,
            JobStatus.FAILED,
            only_from=[JobStatus.RUNNING],
            data={"error": reason},
            error=reason,
        )
