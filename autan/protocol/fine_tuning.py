"""Fine-tuning jobs and fine-tuned models on the wire (Mistral API v1, legacy spec section
``/v1/fine_tuning``), in the shapes the ``mistralai`` 1.x SDK validates."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autan.protocol.public import Nullable, PublicModel

JobStatusName = Literal[
    "QUEUED",
    "STARTED",
    "VALIDATING",
    "VALIDATED",
    "RUNNING",
    "FAILED_VALIDATION",
    "FAILED",
    "SUCCESS",
    "CANCELLED",
    "CANCELLATION_REQUESTED",
]


class TrainingFileIn(BaseModel):
    file_id: str
    weight: float = Field(default=1.0, gt=0)


class TrainingParametersIn(BaseModel):
    """``CompletionTrainingParametersIn``; unset fields take the server's defaults."""

    training_steps: int | None = Field(default=None, ge=1)
    learning_rate: float = Field(default=1e-4, ge=1e-8, le=1)
    weight_decay: float | None = Field(default=None, ge=0, le=1)
    warmup_fraction: float | None = Field(default=None, ge=0, le=1)
    epochs: float | None = Field(default=None, gt=0)
    seq_len: int | None = Field(default=None, ge=100)
    fim_ratio: float | None = Field(default=None, ge=0, le=1)


class FineTuningJobCreate(BaseModel):
    """``JobIn``. Integrations and repositories are refused: they would send data out."""

    model: str
    hyperparameters: TrainingParametersIn
    training_files: list[TrainingFileIn] = Field(default_factory=list)
    validation_files: list[str] | None = None
    suffix: str | None = Field(default=None, max_length=18, pattern=r"^[A-Za-z0-9_.-]*$")
    integrations: list[dict[str, Any]] | None = None
    auto_start: bool = False
    invalid_sample_skip_percentage: float = Field(default=0.0, ge=0, le=0.5)
    job_type: Literal["completion"] | None = None
    repositories: list[dict[str, Any]] | None = None
    classifier_targets: list[dict[str, Any]] | None = None


class TrainingParametersPublic(PublicModel):
    training_steps: Nullable[int] = None
    learning_rate: float = 1e-4
    weight_decay: Nullable[float] = None
    warmup_fraction: Nullable[float] = None
    epochs: Nullable[float] = None
    seq_len: Nullable[int] = None
    fim_ratio: Nullable[float] = None


class JobMetadataPublic(PublicModel):
    expected_duration_seconds: Nullable[int] = None
    cost: Nullable[float] = None
    cost_currency: Nullable[str] = None
    train_tokens_per_step: Nullable[int] = None
    train_tokens: Nullable[int] = None
    data_tokens: Nullable[int] = None
    estimated_start_time: Nullable[int] = None


class LegacyJobMetadataPublic(JobMetadataPublic):
    """What ``?dry_run=true`` answers instead of creating the job."""

    object: Literal["job.metadata"] = "job.metadata"
    details: str
    deprecated: bool = True
    epochs: Nullable[float] = None
    training_steps: Nullable[int] = None


class EventPublic(PublicModel):
    name: str
    data: Nullable[dict[str, Any]] = None
    created_at: int


class MetricPublic(PublicModel):
    train_loss: Nullable[float] = None
    valid_loss: Nullable[float] = None
    valid_mean_token_accuracy: Nullable[float] = None


class CheckpointPublic(PublicModel):
    metrics: MetricPublic
    step_number: int
    created_at: int


class FineTuningJobPublic(PublicModel):
    """``CompletionJobOut``: a job in lists and as created."""

    model_config = ConfigDict(protected_namespaces=())

    id: str
    auto_start: bool
    model: str
    status: JobStatusName
    created_at: int
    modified_at: int
    training_files: list[str]
    validation_files: Nullable[list[str]] = None
    object: Literal["job"] = "job"
    fine_tuned_model: Nullable[str] = None
    suffix: Nullable[str] = None
    integrations: Nullable[list[dict[str, Any]]] = None
    trained_tokens: Nullable[int] = None
    metadata: Nullable[JobMetadataPublic] = None
    job_type: Literal["completion"] = "completion"
    hyperparameters: TrainingParametersPublic
    repositories: list[dict[str, Any]] = Field(default_factory=list)


class FineTuningJobDetailedPublic(FineTuningJobPublic):
    """``CompletionDetailedJobOut``: get, start and cancel; events and checkpoints newest first."""

    events: list[EventPublic] = Field(default_factory=list)
    checkpoints: list[CheckpointPublic] = Field(default_factory=list)


class FineTuningJobListPublic(PublicModel):
    data: list[FineTuningJobPublic] = Field(default_factory=list)
    object: Literal["list"] = "list"
    total: int


class FineTunedModelUpdate(BaseModel):
    name: str | None = None
    description: str | None = None


class FineTunedModelCapabilities(PublicModel):
    completion_chat: bool = True
    completion_fim: bool = False
    function_calling: bool = False
    fine_tuning: bool = False
    classification: bool = False


class FineTunedModelPublic(PublicModel):
    """``CompletionFTModelOut``."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    workspace_id: str
    root: str
    root_version: str
    archived: bool
    name: Nullable[str] = None
    description: Nullable[str] = None
    capabilities: FineTunedModelCapabilities = Field(default_factory=FineTunedModelCapabilities)
    max_context_length: int = 32768
    aliases: list[str] = Field(default_factory=list)
    job: str
    model_type: Literal["completion"] = "completion"


class ArchivedModelPublic(PublicModel):
    """``ArchiveFTModelOut`` / ``UnarchiveFTModelOut``."""

    id: str
    object: Literal["model"] = "model"
    archived: bool
