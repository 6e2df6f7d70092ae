"""``autan jobs``: list, show and cancel jobs (``--kind batch`` or ``fine_tuning``) in the
server's database.

Like ``autan keys`` these work on the database directly, across every workspace; a cancel is
picked up by the process running the job at its next heartbeat.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from autan.cli.database_opener import open_database
from autan.cli.options import DataDirOpt
from autan.cli.table import Table
from autan.errors import AutanError
from autan.fine_tuning.fine_tuning_job import FineTuningJob
from autan.fine_tuning.fine_tuning_jobs import KIND as FINE_TUNING
from autan.fine_tuning.fine_tuning_jobs import FineTuningJobs
from autan.jobs.job import Job
from autan.jobs.job_store import JobFilter, JobStore

app = typer.Typer(
    help="Batch and fine-tuning jobs, in the database autan serve uses.", no_args_is_help=True
)

KindOpt = Annotated[str, typer.Option(help="Job kind: batch or fine_tuning.")]
JobIdArg = Annotated[str, typer.Argument(help="The job's id (see `autan jobs list`).")]


def _progress(job: Job) -> str:
    return f"{job.succeeded_items + job.failed_items}/{job.total_items}"


@app.command("list")
def list_jobs(
    status: Annotated[
        list[str] | None, typer.Option(help="Only jobs in this status (repeat).")
    ] = None,
    workspace: Annotated[str | None, typer.Option(help="Only this workspace id.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    kind: KindOpt = "batch",
    data_dir: DataDirOpt = None,
) -> None:
    """Jobs, newest first: status, progress, failures, model."""
    db = open_database(data_dir)
    try:
        jobs, total = JobStore(db).page(
            workspace, JobFilter(kind=kind, statuses=status or ()), page=0, page_size=limit
        )
    finally:
        db.close()
    table = Table("id", "status", "done", "failed", "model", "endpoint", "created")
    for job in jobs:
        table.add(
            job.id,
            job.status.value,
            _progress(job),
            job.failed_items,
            job.model or "-",
            job.spec.get("endpoint", "-"),
            f"{job.created_at:%Y-%m-%d %H:%M:%S}",
        )
    typer.echo(table.render())
    if total > len(jobs):
        typer.echo(f"({total - len(jobs)} more; use --limit)")


@app.command("show")
def show(job_id: JobIdArg, kind: KindOpt = "batch", data_dir: DataDirOpt = None) -> None:
    """Every field of one job, as JSON."""
    db = open_database(data_dir)
    try:
        job = JobStore(db).get(job_id, kind=kind)
    except AutanError as e:
        typer.echo(f"error: {e.message}", err=True)
        raise typer.Exit(1) from e
    finally:
        db.close()
    fields = {
        "id": job.id,
        "kind": job.kind,
        "status": job.status.value,
        "workspace_id": job.workspace_id,
        "key_id": job.key_id,
        "model": job.model,
        "metadata": job.metadata,
        **job.spec,
        "total": job.total_items,
        "succeeded": job.succeeded_items,
        "failed": job.failed_items,
        "attempts": job.attempts,
        **job.result,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "completed_at": job.completed_at.isoformat() if job.completed_at else None,
        "deadline": job.deadline.isoformat() if job.deadline else None,
    }
    typer.echo(json.dumps(fields, indent=2))


@app.command("cancel")
def cancel(job_id: JobIdArg, kind: KindOpt = "batch", data_dir: DataDirOpt = None) -> None:
    """Ask for a job to stop: a batch job ends CANCELLED with the lines answered so far; a
    fine-tuning job that is not training is CANCELLED at once, a training one once its
    trainer is killed."""
    db = open_database(data_dir)
    try:
        store = JobStore(db)
        job: Job | FineTuningJob
        if kind == FINE_TUNING:  # with its status events, as the API cancels it
            job = FineTuningJobs(store).cancel(job_id, None)
        else:
            job = store.request_cancel(job_id, workspace_id=None, kind=kind)
    except AutanError as e:
        typer.echo(f"error: {e.message}", err=True)
        raise typer.Exit(1) from e
    finally:
        db.close()
    typer.echo(f"{job.id}: {job.status.value}")
