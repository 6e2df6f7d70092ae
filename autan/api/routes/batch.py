"""``/v1/batch/jobs``: create, list, get (with inline results), cancel, delete.

Every database read and write runs on the thread pool, never on the event loop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from autan.api.deps import BatchSystemDep, MeterDep, owner_of, workspace_of
from autan.jobs.job import Job
from autan.protocol.batch import (
    BatchErrorPublic,
    BatchJobCreate,
    BatchJobDeletedPublic,
    BatchJobListPublic,
    BatchJobPublic,
)
from autan.protocol.fields import Filter, Identifier, PageIndex

router = APIRouter(tags=["batch"])

# Every query parameter ``GET /v1/batch/jobs`` declares; the SDK sends ``metadata`` as bare
# ``key=value`` pairs, so any other parameter is a metadata filter.
_LIST_PARAMS = frozenset(
    {
        "page",
        "page_size",
        "model",
        "agent_id",
        "metadata",
        "created_after",
        "created_by_me",
        "status",
        "order_by",
    }
)


_METADATA_FILTER = TypeAdapter(dict[Filter, Filter])


def _metadata_filter(request: Request) -> dict[str, str]:
    """The query parameters that filter on metadata, as constrained as declared ones."""
    metadata = {k: v for k, v in request.query_params.items() if k not in _LIST_PARAMS}
    try:
        return _METADATA_FILTER.validate_python(metadata)
    except ValidationError as e:
        raise RequestValidationError(
            [{**err, "loc": ("query", *err["loc"])} for err in e.errors()]
        ) from e


def _seconds(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.replace(tzinfo=UTC).timestamp())


def batch_public(job: Job, outputs: list[dict[str, object]] | None = None) -> BatchJobPublic:
    return BatchJobPublic(
        id=job.id,
        input_files=job.spec.get("input_files", []),
        metadata=job.metadata,
        endpoint=job.spec["endpoint"],
        model=job.model,
        output_file=job.result.get("output_file"),
        error_file=job.result.get("error_file"),
        errors=[BatchErrorPublic(**e) for e in job.result.get("errors", [])],
        outputs=outputs,
        status=job.status.value,
        created_at=_seconds(job.created_at) or 0,
        total_requests=job.total_items,
        completed_requests=job.succeeded_items + job.failed_items,
        succeeded_requests=job.succeeded_items,
        failed_requests=job.failed_items,
        started_at=_seconds(job.started_at),
        completed_at=_seconds(job.completed_at),
    )


@router.post("/v1/batch/jobs", response_model=BatchJobPublic)
async def create_batch_job(
    body: BatchJobCreate, meter: MeterDep, system: BatchSystemDep
) -> BatchJobPublic:
    """Queue a batch job over ``input_files`` (JSONL uploaded with purpose ``batch``) or inline
    ``requests``. Lines run at lower priority than interactive requests, and are billed at half
    price."""
    workspace_id = workspace_of(meter)
    job = await run_in_threadpool(system.batches.create, workspace_id, owner_of(meter), body)
    return batch_public(job)


@router.get("/v1/batch/jobs", response_model=BatchJobListPublic)
async def list_batch_jobs(
    request: Request,
    meter: MeterDep,
    system: BatchSystemDep,
    page: PageIndex = 0,
    page_size: int = Query(100, ge=1, le=1000),
    model: Filter | None = None,
    agent_id: Filter | None = None,
    created_after: datetime | None = None,
    created_by_me: bool = False,
    status: Annotated[list[Filter] | None, Query()] = None,
    order_by: Literal["created", "-created"] = "-created",
) -> BatchJobListPublic:
    """This workspace's batch jobs. Unknown query parameters filter on metadata."""
    workspace_id = workspace_of(meter)
    metadata = _metadata_filter(request)
    if created_after is not None and created_after.tzinfo is not None:
        created_after = created_after.astimezone(UTC).replace(tzinfo=None)
    jobs, total = await run_in_threadpool(
        system.batches.page,
        workspace_id,
        statuses=status or (),
        model=model,
        metadata=metadata,
        created_after=created_after,
        key_id=owner_of(meter) if created_by_me else None,
        newest_first=order_by == "-created",
        page=page,
        page_size=page_size,
    )
    return BatchJobListPublic(data=[batch_public(j) for j in jobs], total=total)


@router.get("/v1/batch/jobs/{job_id}", response_model=BatchJobPublic)
async def get_batch_job(
    job_id: Identifier, meter: MeterDep, system: BatchSystemDep, inline: bool = False
) -> BatchJobPublic:
    """A batch job; with ``inline=true``, every answered line as the output and error files
    hold it."""
    job = await run_in_threadpool(system.batches.get, workspace_of(meter), job_id)
    outputs = await run_in_threadpool(system.batches.outputs, job) if inline else None
    return batch_public(job, outputs)


@router.post("/v1/batch/jobs/{job_id}/cancel", response_model=BatchJobPublic)
async def cancel_batch_job(
    job_id: Identifier, meter: MeterDep, system: BatchSystemDep
) -> BatchJobPublic:
    """Ask for the job to stop: CANCELLATION_REQUESTED now, CANCELLED as soon as its worker
    hears of it (at once in the process running it): the lines in flight are cancelled, and
    the lines answered so far are in its files."""
    return batch_public(await run_in_threadpool(system.batches.cancel, workspace_of(meter), job_id))


@router.delete("/v1/batch/jobs/{job_id}", response_model=BatchJobDeletedPublic)
async def delete_batch_job(
    job_id: Identifier, meter: MeterDep, system: BatchSystemDep
) -> BatchJobDeletedPublic:
    """Forget a finished job (its files stay until deleted)."""
    await run_in_threadpool(system.batches.delete, workspace_of(meter), job_id)
    return BatchJobDeletedPublic(id=job_id)
