"""Fine-tuning jobs and fine-tuned models on the wire (Mistral API v1, legacy spec section
``/v1/fine_tuning``), in the shapes the ``mistralai`` 1.x SDK validates."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class TrainingParametersPublic(BaseModel):
    training_steps: int | None = None
    learning_rate: float = 1e-4
    weight_decay: float | None = None
    warmup_fraction: float | None = None
    epochs: float | None = None
    seq_len: int | None = None
    fim_ratio: float | None = None


class JobMetadataPublic(BaseModel):
    expected_duration_seconds: int | None = None
    cost: float | None = None
    cost_currency: str | None = None
    train_tokens_per_step: int | None = None
    train_tokens: int | None = None
    data_tokens: int | None = None
    estimated_start_time: int | None = None


class LegacyJobMetadataPublic(JobMetadataPublic):
    """What ``?dry_run=true`` answers instead of creating the job."""

    object: Literal["job.metadata"] = "job.metadata"
    details: str
    deprecated: bool = True
    epochs: float | None = None
    training_steps: int | None = None


class EventPublic(BaseModel):
    name: str
    data: dict[str, Any] | None = None
    created_at: int


class MetricPublic(BaseModel):
    train_loss: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None


class CheckpointPublic(BaseModel):
    metrics: MetricPublic
    step_number: int
    created_at: int


class FineTuningJobPublic(BaseModel):
    """``CompletionJobOut``: a job in lists and as created."""

    model_config = ConfigDict(protected_namespaces=())

    id: str
    auto_start: bool
    model: str
    status: JobStatusName
    created_at: int
    modified_at: int
    training_files: list[str]
    validation_files: list[str] | None = None
    object: Literal["job"] = "job"
    fine_tuned_model: str | None = None
    suffix: str | None = None
    integrations: list[dict[str, Any]] | None = None
    trained_tokens: int | None = None
    metadata: JobMetadataPublic | None = None
    job_type: Literal["completion"] = "completion"
    hyperparameters: TrainingParametersPublic
    repositories: list[dict[str, Any]] = Field(default_factory=list)


class FineTuningJobDetailedPublic(FineTuningJobPublic):
    """``CompletionDetailedJobOut``: get, start and cancel; events and checkpoints newest first."""

    events: list[EventPublic] = Field(default_factory=list)
    checkpoints: list[CheckpointPublic] = Field(default_factory=list)


class FineTuningJobListPublic(BaseModel):
    data: list[FineTuningJobPublic] = Field(default_factory=list)
    object: Literal["list"] = "list"
    total: int


class FineTunedModelUpdate(BaseModel):
    name: str | None = None
    description: str | None = None


class FineTunedModelCapabilities(BaseModel):
    completion_chat: bool = True
    completion_fim: bool = False
    function_calling: bool = False
    fine_tuning: bool = False
    classification: bool = False


class FineTunedModelPublic(BaseModel):
    """``CompletionFTModelOut``."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    workspace_id: str
    root: str
    root_version: str
    archived: bool
    name: str | None = None
    description: str | None = None
    capabilities: FineTunedModelCapabilities = Field(default_factory=FineTunedModelCapabilities)
    max_context_length: int = 32768
    aliases: list[str] = Field(default_factory=list)
    job: str
    model_type: Literal["completion"] = "completion"


class ArchivedModelPublic(BaseModel):
    """``ArchiveFTModelOut`` / ``UnarchiveFTModelOut``."""

    id: str
    object: Literal["model"] = "model"
    archived: bool
