"""A running job's last checkpoint in the shared store: uploaded by the worker holding the
job's lease only, each replacing the one before; fetched by the worker that takes the job
over unless its own is as recent; deleted when the job ends, with any a killed worker uploaded
without recording it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from autan.fine_tuning.fine_tuning_jobs import KIND, FineTuningJobs
from autan.fine_tuning.shared_blobs import SharedBlobs
from autan.fine_tuning.shared_checkpoint import RESULT_KEY, CheckpointLost, SharedCheckpoint
from autan.fine_tuning.training_config import PROGRESS_FILE, STATE_FILE
from autan.jobs.job_store import JobStore
from autan.jobs.runner import JobLease
from autan.storage.blob_tables import BlobRow
from autan.storage.database import Database
from autan.storage.database_blob_store import DatabaseBlobStore
from tests.fine_tuning.minimal import waiting_job


def _blobs(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(BlobRow)) or 0


def _checkpoint(run_dir: Path, step: int, state: bytes) -> None:
    """What the trainer leaves at a checkpoint: its state, then the line reporting it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / STATE_FILE).write_bytes(state)
    with (run_dir / PROGRESS_FILE).open("a") as f:
        f.write(json.dumps({"type": "checkpoint", "step": step}) + "\n")


def test_a_checkpoint_is_shared_by_the_lease_holder_and_resumed_elsewhere(
    db: Database, tmp_path: Path
) -> None:
    jobs = FineTuningJobs(JobStore(db))
    store = jobs.store
    job = waiting_job(jobs)
    claimed = store.claim([KIND], "worker-1", 30)
    assert claimed is not None and claimed.id == job.id
    blobs = SharedBlobs(DatabaseBlobStore(db))
    shared = SharedCheckpoint(blobs, jobs)
    first = tmp_path / "machine-1" / job.id

    _checkpoint(first, 2, b"state at 2")
    asyncio.run(shared.save(JobLease(store, claimed, "worker-1"), first, 2))
    _checkpoint(first, 4, b"state at 4")
    asyncio.run(shared.save(JobLease(store, claimed, "worker-1"), first, 4))
    assert store.get(job.id).result[RESULT_KEY]["step"] == 4
    assert _blobs(db) == 1  # the one it replaced is gone

    # A worker that lost the lease records nothing, and keeps no blob.
    _checkpoint(first, 6, b"state at 6 of a stale worker")
    asyncio.run(shared.save(JobLease(store, claimed, "worker-0"), first, 6))
    assert store.get(job.id).result[RESULT_KEY]["step"] == 4
    assert _blobs(db) == 1

    second = tmp_path / "machine-2" / job.id
    assert shared.restore(job.id, second) == 4
    assert (second / STATE_FILE).read_bytes() == b"state at 4"
    assert shared.restore(job.id, first) is None  # its own state is more recent

    # A worker killed between uploading step 8 and recording it: the step is made again and
    # recorded by the worker that takes over (on another run here), so the job's end finds it.
    asyncio.run(blobs.upload(first / STATE_FILE, f"ckpt-{job.id}-8"))
    jobs.add_checkpoint(job.id, 8, {})
    assert _blobs(db) == 2

    asyncio.run(shared.drop(job.id))
    assert RESULT_KEY not in store.get(job.id).result
    assert _blobs(db) == 0
    assert shared.restore(job.id, tmp_path / "machine-3") is None  # nothing to resume from


def test_a_checkpoint_whose_blob_is_gone_cannot_be_resumed(db: Database, tmp_path: Path) -> None:
    jobs = FineTuningJobs(JobStore(db))
    store = jobs.store
    job = waiting_job(jobs)
    claimed = store.claim([KIND], "worker-1", 30)
    assert claimed is not None
    blobs = SharedBlobs(DatabaseBlobStore(db))
    shared = SharedCheckpoint(blobs, jobs)
    _checkpoint(tmp_path / "run", 3, b"state")
    asyncio.run(shared.save(JobLease(store, claimed, "worker-1"), tmp_path / "run", 3))
    blobs.delete(store.get(job.id).result[RESULT_KEY]["key"])
    with pytest.raises(CheckpointLost, match="could not be fetched"):
        shared.restore(job.id, tmp_path / "elsewhere")
