"""``/v1/fine_tuning``: fine-tuning jobs and the models they make (Mistral API v1).

Every database read and write runs on the thread pool, never on the event loop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from autan.api.deps import FineTuningDep, MeterDep, workspace_of
from autan.errors import InvalidRequest
from autan.fine_tuning.fine_tuning_job import FineTunedModel, FineTuningJob, TrainingFileRef
from autan.fine_tuning.fine_tuning_service import JobRequest
from autan.protocol.fields import Filter, Identifier, PageIndex
from autan.protocol.fine_tuning import (
    ArchivedModelPublic,
    CheckpointPublic,
    EventPublic,
    FineTunedModelPublic,
    FineTunedModelUpdate,
    FineTuningJobCreate,
    FineTuningJobDetailedPublic,
    FineTuningJobListPublic,
    FineTuningJobPublic,
    JobMetadataPublic,
    JobStatusName,
    LegacyJobMetadataPublic,
    MetricPublic,
    TrainingParametersPublic,
)

router = APIRouter(tags=["fine-tuning"])


def _seconds(t: datetime) -> int:
    return int(t.timestamp()) if t.tzinfo else int((t - datetime(1970, 1, 1)).total_seconds())


def job_public(job: FineTuningJob) -> FineTuningJobPublic:
    metadata = {
        k: v for k, v in (job.metadata or {}).items() if k in JobMetadataPublic.model_fields
    }
    return FineTuningJobPublic(
        id=job.id,
        auto_start=job.auto_start,
        model=job.model,
        status=job.status.value,
        created_at=_seconds(job.created_at),
        modified_at=_seconds(job.modified_at),
        training_files=[f.file_id for f in job.training_files],
        validation_files=job.validation_files,
        fine_tuned_model=job.fine_tuned_model,
        suffix=job.suffix,
        integrations=[],
        trained_tokens=job.trained_tokens,
        metadata=JobMetadataPublic(**metadata) if metadata else None,
        hyperparameters=TrainingParametersPublic(**job.hyperparameters),
    )


def job_detailed(job: FineTuningJob) -> FineTuningJobDetailedPublic:
    return FineTuningJobDetailedPublic(
        **job_public(job).model_dump(),
        events=[
            EventPublic(name=e.name, data=e.data, created_at=_seconds(e.created_at))
            for e in job.events
        ],
        checkpoints=[
            CheckpointPublic(
                metrics=MetricPublic(
                    train_loss=c.train_loss,
                    valid_loss=c.valid_loss,
                    valid_mean_token_accuracy=c.valid_mean_token_accuracy,
                ),
                step_number=c.step_number,
                created_at=_seconds(c.created_at),
            )
            for c in job.checkpoints
        ],
    )


def model_public(model: FineTunedModel, context: int = 32768) -> FineTunedModelPublic:
    return FineTunedModelPublic(
        id=model.id,
        created=_seconds(model.created_at),
        owned_by=model.workspace_id,
        workspace_id=model.workspace_id,
        root=model.root,
        root_version=model.root,
        archived=model.archived,
        name=model.name,
        description=model.description,
        max_context_length=context,
        job=model.job_id,
    )


def _request(body: FineTuningJobCreate) -> JobRequest:
    if body.integrations:
        raise InvalidRequest(
            "Integrations are not supported: autan sends no data off this machine",
            param="integrations",
        )
    if body.repositories or body.classifier_targets:
        raise InvalidRequest(
            "Only completion jobs on uploaded files are supported", param="job_type"
        )
    return JobRequest(
        model=body.model,
        training_files=[TrainingFileRef(f.file_id, f.weight) for f in body.training_files],
        validation_files=list(body.validation_files or []),
        hyperparameters=body.hyperparameters.model_dump(exclude_none=True),
        suffix=body.suffix or None,
        auto_start=body.auto_start,
        skip_fraction=body.invalid_sample_skip_percentage,
    )


@router.post(
    "/v1/fine_tuning/jobs",
    response_model=FineTuningJobPublic | LegacyJobMetadataPublic,
    response_model_exclude_none=False,
)
async def create_job(
    body: FineTuningJobCreate,
    service: FineTuningDep,
    key: MeterDep,
    dry_run: bool | None = None,
) -> Any:
    """Create a fine-tuning job: it is validated, then waits for ``/start`` unless
    ``auto_start``. With ``dry_run=true`` the data is checked and the job estimated, not made."""
    request = _request(body)
    key_id = key.key.id if key is not None else None
    # Both read the job's files (a dry run checks every line): off the event loop.
    if dry_run:
        estimate = await run_in_threadpool(
            service.dry_run, workspace_of(key), request, key_id=key_id
        )
        return LegacyJobMetadataPublic(**estimate)
    job = await run_in_threadpool(service.create, workspace_of(key), request, key_id=key_id)
    return job_public(job)


@router.get("/v1/fine_tuning/jobs", response_model=FineTuningJobListPublic)
async def list_jobs(
    service: FineTuningDep,
    key: MeterDep,
    page: PageIndex = 0,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    model: Filter | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    created_by_me: bool = False,
    status: JobStatusName | None = None,
    wandb_project: Filter | None = None,
    wandb_name: Filter | None = None,
    suffix: Filter | None = None,
) -> FineTuningJobListPublic:
    """The workspace's jobs, newest first."""
    jobs, total = await run_in_threadpool(
        service.jobs.page,
        workspace_of(key),
        status=status,
        model=model,
        suffix=suffix,
        created_after=_naive(created_after),
        created_before=_naive(created_before),
        page=page,
        page_size=page_size,
    )
    return FineTuningJobListPublic(data=[job_public(j) for j in jobs], total=total)


def _naive(t: datetime | None) -> datetime | None:
    """Rows keep naive UTC."""
    return t if t is None or t.tzinfo is None else t.astimezone(UTC).replace(tzinfo=None)


@router.get("/v1/fine_tuning/jobs/{job_id}", response_model=FineTuningJobDetailedPublic)
async def get_job(
    job_id: Identifier, service: FineTuningDep, key: MeterDep
) -> FineTuningJobDetailedPublic:
    """One job with its events and checkpoints."""
    return job_detailed(await run_in_threadpool(service.jobs.get, job_id, workspace_of(key)))


@router.post("/v1/fine_tuning/jobs/{job_id}/start", response_model=FineTuningJobDetailedPublic)
async def start_job(
    job_id: Identifier, service: FineTuningDep, key: MeterDep
) -> FineTuningJobDetailedPublic:
    """Start training a validated job (or as soon as its validation ends)."""
    return job_detailed(await run_in_threadpool(service.start_job, workspace_of(key), job_id))


@router.post("/v1/fine_tuning/jobs/{job_id}/cancel", response_model=FineTuningJobDetailedPublic)
async def cancel_job(
    job_id: Identifier, service: FineTuningDep, key: MeterDep
) -> FineTuningJobDetailedPublic:
    """Cancel a job; a running one stops within a second (its trainer process is killed)."""
    return job_detailed(await run_in_threadpool(service.cancel, workspace_of(key), job_id))


@router.patch("/v1/fine_tuning/models/{model_id}", response_model=FineTunedModelPublic)
async def update_model(
    model_id: Identifier, body: FineTunedModelUpdate, service: FineTuningDep, key: MeterDep
) -> FineTunedModelPublic:
    """Rename or describe a fine-tuned model."""
    fields = body.model_dump(exclude_unset=True)
    model = await run_in_threadpool(service.update_model, workspace_of(key), model_id, **fields)
    return model_public(model)


@router.post("/v1/fine_tuning/models/{model_id}/archive", response_model=ArchivedModelPublic)
async def archive_model(
    model_id: Identifier, service: FineTuningDep, key: MeterDep
) -> ArchivedModelPublic:
    """Archive a fine-tuned model; it is still served."""
    model = await run_in_threadpool(service.set_archived, workspace_of(key), model_id, True)
    return ArchivedModelPublic(id=model.id, archived=model.archived)


@router.delete("/v1/fine_tuning/models/{model_id}/archive", response_model=ArchivedModelPublic)
async def unarchive_model(
    model_id: Identifier, service: FineTuningDep, key: MeterDep
) -> ArchivedModelPublic:
    """Unarchive a fine-tuned model."""
    model = await run_in_threadpool(service.set_archived, workspace_of(key), model_id, False)
    return ArchivedModelPublic(id=model.id, archived=model.archived)
