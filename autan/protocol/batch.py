"""Batch jobs: ``/v1/batch/jobs`` (Mistral API v1 section 9)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from autan.protocol.fields import FILENAME_LENGTH, Identifier, Name, Text
from autan.protocol.public import Nullable, PublicModel

BatchEndpoint = Literal["/v1/chat/completions", "/v1/fim/completions", "/v1/embeddings"]
BatchJobStatus = Literal[
    "QUEUED",
    "RUNNING",
    "SUCCESS",
    "FAILED",
    "TIMEOUT_EXCEEDED",
    "CANCELLATION_REQUESTED",
    "CANCELLED",
]


# ``batch_lines.custom_id`` is a ``String(512)``.
CustomId = Annotated[Text, StringConstraints(max_length=FILENAME_LENGTH)]


class BatchRequestPublic(BaseModel):
    """One inline request: the body a single call to ``endpoint`` would send."""

    custom_id: CustomId | None = None
    body: dict[str, Any]


class BatchJobCreate(BaseModel):
    # Checked by the service rather than by this Literal, so that an endpoint the API knows
    # but autan does not run (/v1/ocr, ...) gets a 400 that says so.
    endpoint: Name
    input_files: list[Identifier] | None = None
    requests: list[BatchRequestPublic] | None = Field(default=None, max_length=10_000)
    model: Name | None = None
    agent_id: Name | None = None
    metadata: dict[Text, Text] | None = None
    timeout_hours: int = Field(default=24, ge=1, le=168)


class BatchErrorPublic(PublicModel):
    message: str
    count: int = 1


class BatchJobPublic(PublicModel):
    id: str
    object: Literal["batch"] = "batch"
    input_files: list[str]
    metadata: Nullable[dict[str, Any]] = None
    endpoint: str
    model: Nullable[str] = None
    agent_id: Nullable[str] = None
    output_file: Nullable[str] = None
    error_file: Nullable[str] = None
    errors: list[BatchErrorPublic]
    outputs: Nullable[list[dict[str, Any]]] = None
    status: BatchJobStatus
    created_at: int
    total_requests: int
    completed_requests: int
    succeeded_requests: int
    failed_requests: int
    started_at: Nullable[int] = None
    completed_at: Nullable[int] = None


class BatchJobListPublic(PublicModel):
    object: Literal["list"] = "list"
    data: list[BatchJobPublic]
    total: int


class BatchJobDeletedPublic(PublicModel):
    id: str
    object: Literal["batch"] = "batch"
    deleted: bool = True
