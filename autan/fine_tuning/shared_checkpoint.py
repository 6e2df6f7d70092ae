"""A running job's last checkpoint in the shared blob store, so that the worker that takes a
job over from a dead one (on another machine, with another disk) resumes it from there.

At each checkpoint the trainer replaces ``state.pt`` in its run directory (LoRA weights,
optimizer, step); the worker holding the job's lease uploads it and records its blob in the
job's result (``checkpoint_state``: key, size, sha256, step), then deletes the one it replaces.
A worker that lost the lease records nothing. The worker that takes the job over fetches the
state into its own run directory before its trainer starts, unless its own is as recent (the
same machine, restarted). The blob is deleted when the job ends.

Each blob is named after its job and step (``ckpt-<job id>-<step>``): a worker killed between
uploading a state and recording it leaves a blob that no record names, but the worker that
takes over makes that step again and overwrites it, and the job's end deletes the blob of every
step recorded, so none outlives the job.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from autan.fine_tuning.fine_tuning_jobs import FineTuningJobs
from autan.fine_tuning.shared_blobs import BlobMismatch, BlobRef, SharedBlobs
from autan.fine_tuning.training_config import PROGRESS_FILE, STATE_FILE
from autan.jobs.runner import JobLease
from autan.storage.job_tables import JobRow

log = logging.getLogger(__name__)

RESULT_KEY = "checkpoint_state"


class CheckpointLost(Exception):
    """The job's last checkpoint is recorded but cannot be fetched: the job cannot resume."""

    def __init__(self, reason: str) -> None:
        self.message = f"its last checkpoint could not be fetched from the shared store: {reason}"
        super().__init__(self.message)


class SharedCheckpoint:
    def __init__(self, blobs: SharedBlobs, jobs: FineTuningJobs) -> None:
        self._blobs = blobs
        self._jobs = jobs
        self._store = jobs.store

    async def save(self, lease: JobLease, run_dir: Path, step: int) -> None:
        """Upload the run directory's ``state.pt`` (as of ``step`` or later) for the job."""
        ref = await self._blobs.upload(run_dir / STATE_FILE, _key(lease.job.id, step))
        outcome: dict[str, Any] = {}

        def record(session: Session, row: JobRow) -> None:
            if row.lease_owner != lease.owner:
                return  # another worker has the job: its own checkpoints count
            outcome["recorded"] = True
            outcome["replaced"] = row.result.get(RESULT_KEY)
            row.result = {**row.result, RESULT_KEY: {**ref.to_json(), "step": step}}

        await asyncio.to_thread(self._store.update, lease.job.id, record)
        if not outcome.get("recorded"):
            await asyncio.to_thread(self._blobs.delete, ref.key)
        elif outcome["replaced"] is not None and outcome["replaced"]["key"] != ref.key:
            await asyncio.to_thread(self._blobs.delete, outcome["replaced"]["key"])

    def restore(self, job_id: str, run_dir: Path) -> int | None:
        """Put the job's shared state into ``run_dir`` unless the state there is as recent;
        the step restored, or None. Blocking (call it in a thread); ``CheckpointLost`` when
        the recorded state cannot be fetched whole."""
        recorded = self._store.get(job_id).result.get(RESULT_KEY)
        if recorded is None:
            return None
        step = int(recorded["step"])
        if (run_dir / STATE_FILE).is_file() and _local_step(run_dir) >= step:
            return None
        try:
            self._blobs.download(BlobRef.from_json(recorded), run_dir / STATE_FILE)
        except FileNotFoundError:
            raise CheckpointLost(f"its blob {recorded['key']} is gone") from None
        except BlobMismatch as e:
            raise CheckpointLost(str(e)) from None
        log.info("job %s: fetched its checkpoint of step %d from the shared store", job_id, step)
        return step

    async def drop(self, job_id: str) -> None:
        """Forget the job's shared state and delete its blobs (the job has ended)."""
        keys: set[str] = set()

        def forget(session: Session, row: JobRow) -> None:
            if RESULT_KEY in row.result:
                keys.add(row.result[RESULT_KEY]["key"])
                row.result = {k: v for k, v in row.result.items() if k != RESULT_KEY}

        await asyncio.to_thread(self._store.update, job_id, forget)
        job = await asyncio.to_thread(self._jobs.get, job_id)
        keys.update(_key(job_id, c.step_number) for c in job.checkpoints)
        for key in sorted(keys):
            await asyncio.to_thread(self._blobs.delete, key)


def _key(job_id: str, step: int) -> str:
    return f"ckpt-{job_id}-{step}"


def _local_step(run_dir: Path) -> int:
    """The step of the last checkpoint the trainer in ``run_dir`` reported (0: none)."""
    step = 0
    path = run_dir / PROGRESS_FILE
    if not path.is_file():
        return 0
    with path.open("rb") as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:  # a line cut short by a kill
                continue
            if event.get("type") == "checkpoint":
                step = max(step, int(event["step"]))
    return step
