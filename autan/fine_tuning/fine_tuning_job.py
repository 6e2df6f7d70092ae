"""A fine-tuning job as the service sees it: a job of the kind ``fine_tuning`` (its statuses
are ``autan.jobs.job.JobStatus``), with its events and checkpoints.

A VALIDATED job waits for ``/start`` unless it was created with ``auto_start``. Cancelling a job
that is not running ends it at once; a running one is CANCELLATION_REQUESTED until its trainer
process is killed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from autan.fine_tuning.shared_blobs import BlobRef
from autan.jobs.job import JobStatus


@dataclass(frozen=True, slots=True)
class JobEvent:
    name: str
    created_at: datetime
    data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class JobCheckpoint:
    step_number: int
    created_at: datetime
    train_loss: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None


@dataclass(frozen=True, slots=True)
class TrainingFileRef:
    file_id: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class FineTuningJob:
    id: str
    workspace_id: str
    key_id: str | None
    model: str
    status: JobStatus
    auto_start: bool
    start_requested: bool
    hyperparameters: dict[str, Any]
    training_files: list[TrainingFileRef]
    validation_files: list[str]
    created_at: datetime
    modified_at: datetime
    suffix: str | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    metadata: dict[str, Any] | None = None
    error: str | None = None
    events: list[JobEvent] = field(default_factory=list)
    checkpoints: list[JobCheckpoint] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FineTunedModel:
    """A model a job made: the adapter on its base GGUF, served under ``id``. With
    ``adapter_blob``, the adapter is in the shared blob store, which every process on the
    database reads; ``adapter_path`` is then where the training node first wrote it."""

    id: str
    workspace_id: str
    job_id: str
    root: str
    base_path: str
    adapter_path: str
    created_at: datetime
    name: str | None = None
    description: str | None = None
    archived: bool = False
    adapter_blob: BlobRef | None = None
