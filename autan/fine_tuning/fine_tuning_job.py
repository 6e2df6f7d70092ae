"""A fine-tuning job as the service sees it, and the statuses it moves through.

    QUEUED -> VALIDATING -> VALIDATED -> RUNNING -> SUCCESS | FAILED
                        \\-> FAILED_VALIDATION
    any status before SUCCESS/FAILED -> CANCELLATION_REQUESTED -> CANCELLED

A VALIDATED job waits for ``/start`` unless it was created with ``auto_start``. Cancelling a job
that is not running ends it at once; a running one is CANCELLATION_REQUESTED until its trainer
process is killed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class JobStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    STARTED = "STARTED"
    VALIDATING = "VALIDATING"
    VALIDATED = "VALIDATED"
    RUNNING = "RUNNING"
    FAILED_VALIDATION = "FAILED_VALIDATION"
    FAILED = "FAILED"
    SUCCESS = "SUCCESS"
    CANCELLED = "CANCELLED"
    CANCELLATION_REQUESTED = "CANCELLATION_REQUESTED"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset(
    {JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.FAILED_VALIDATION, JobStatus.CANCELLED}
)


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
    """A model a job made: the adapter on its base GGUF, served under ``id``."""

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
