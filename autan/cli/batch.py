"""``autan batch``: create, follow, cancel and collect batch jobs on a running server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from autan.cli.command_group import CommandLineError
from autan.cli.files import download_to, when
from autan.cli.server_client import (
    DEFAULT_URL,
    KeyDataDirOpt,
    ServerClient,
    ServerKeyOpt,
    ServerUrlOpt,
)
from autan.cli.table import Table

app = typer.Typer(help="Batch jobs on a running server.", no_args_is_help=True)

ENDED = {"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"}
JobIdArg = Annotated[str, typer.Argument(metavar="JOB_ID", help="The batch job's id.")]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="Follow the job with a progress bar until it ends.")
]


def _metadata(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    if bad := [p for p in pairs if "=" not in p]:
        raise CommandLineError(f"--metadata takes KEY=VALUE, not {bad[0]!r}")
    return dict(p.split("=", 1) for p in pairs)


def _summary(job: dict[str, Any]) -> str:
    line = (
        f"{job['id']}: {job['status']}, {job['succeeded_requests']} succeeded, "
        f"{job['failed_requests']} failed of {job['total_requests']}"
    )
    if job.get("output_file"):
        line += f"; results in file {job['output_file']} (`autan batch results {job['id']}`)"
    return line


def follow(server: ServerClient, job: dict[str, Any], console: Console) -> dict[str, Any]:
    """Poll the job until it ends, with a progress bar; Ctrl-C stops following, not the job."""
    columns = (
        TextColumn("{task.fields[status]:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(
                "batch", total=job["total_requests"] or None, status=job["status"], failed=0
            )
            while job["status"] not in ENDED:
                time.sleep(0.5)
                job = server.request("GET", f"/v1/batch/jobs/{job['id']}")
                progress.update(
                    task,
                    total=job["total_requests"] or None,
                    completed=job["completed_requests"],
                    status=job["status"],
                    failed=job["failed_requests"],
                )
    except KeyboardInterrupt:
        console.print(f"stopped following; the job goes on (`autan batch show {job['id']}`)")
        raise typer.Exit(130) from None
    return job


@app.command("create")
def create(
    input_file: Annotated[
        str,
        typer.Argument(
            metavar="INPUT", help="A JSONL file of requests (uploaded first) or a file id."
        ),
    ],
    model: Annotated[str, typer.Option(help="The model every line is sent to.")],
    endpoint: Annotated[
        str, typer.Option(help="/v1/chat/completions, /v1/embeddings, /v1/fim/completions.")
    ] = "/v1/chat/completions",
    metadata: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE kept on the job (repeat).")
    ] = None,
    timeout_hours: Annotated[
        int, typer.Option(min=1, max=168, help="Hours before the job is stopped.")
    ] = 24,
    wait: WaitOpt = False,
    url: ServerUrlOpt = DEFAULT_URL,
    api_key: ServerKeyOpt = None,
    data_dir: KeyDataDirOpt = None,
) -> None:
    """Start a batch job on a JSONL file of requests ({"custom_id": ..., "body": {...}} per
    line)."""
    body: dict[str, Any] = {
        "endpoint": endpoint,
        "model": model,
        "metadata": _metadata(metadata),
        "timeout_hours": timeout_hours,
    }
    console = Console(stderr=True)
    with ServerClient(url, api_key, data_dir) as server:
        body["input_files"] = [server.file_id(input_file, "batch")]
        job = server.request("POST", "/v1/batch/jobs", json=body)
        typer.echo(f"created batch job {job['id']}")
        if wait:
            job = follow(server, job, console)
            typer.echo(_summary(job))
            if job["status"] != "SUCCESS":
                raise typer.Exit(1)


@app.command("list")
def list_jobs(
    status: Annotated[
        list[str] | None, typer.Option(help="Only jobs in this status (repeat).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    url: ServerUrlOpt = DEFAULT_URL,
    api_key: ServerKeyOpt = None,
    data_dir: KeyDataDirOpt = None,
) -> None:
    """Batch jobs, newest first: status, progress, model, created."""
    params: dict[str, Any] = {"page_size": limit}
    if status:
        params["status"] = status
    with ServerClient(url, api_key, data_dir) as server:
        jobs = server.request("GET", "/v1/batch/jobs", params=params)["data"]
    table = Table("id", "status", "done", "failed", "model", "endpoint", "created")
    for j in jobs:
        table.add(
            j["id"],
            j["status"],
            f"{j['completed_requests']}/{j['total_requests']}",
            j["failed_requests"],
            j["model"] or "-",
            j["endpoint"],
            when(j["created_at"]),
        )
    typer.echo(table.render())


@app.command("show")
def show(
    job_id: JobIdArg,
    wait: WaitOpt = False,
    url: ServerUrlOpt = DEFAULT_URL,
    api_key: ServerKeyOpt = None,
    data_dir: KeyDataDirOpt = None,
) -> None:
    """One job as JSON (with --wait, once it has ended)."""
    with ServerClient(url, api_key, data_dir) as server:
        job = server.request("GET", f"/v1/batch/jobs/{job_id}")
        if wait:
            job = follow(server, job, Console(stderr=True))
    typer.echo(json.dumps(job, indent=2))


@app.command("cancel")
def cancel(
    job_id: JobIdArg,
    url: ServerUrlOpt = DEFAULT_URL,
    api_key: ServerKeyOpt = None,
    data_dir: KeyDataDirOpt = None,
) -> None:
    """Cancel a job; the lines answered so far stay in its results."""
    with ServerClient(url, api_key, data_dir) as server:
        job = server.request("POST", f"/v1/batch/jobs/{job_id}/cancel")
    typer.echo(f"{job['id']}: {job['status']}")


@app.command("results")
def results(
    job_id: JobIdArg,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write them (default: JOB_ID.jsonl)."),
    ] = None,
    errors: Annotated[
        bool, typer.Option("--errors", help="The failed lines' file instead.")
    ] = False,
    url: ServerUrlOpt = DEFAULT_URL,
    api_key: ServerKeyOpt = None,
    data_dir: KeyDataDirOpt = None,
) -> None:
    """Download a job's results: one JSON line per request, by custom_id."""
    with ServerClient(url, api_key, data_dir) as server:
        job = server.request("GET", f"/v1/batch/jobs/{job_id}")
        file_id = job["error_file"] if errors else job["output_file"]
        if not file_id:
            what = "error" if errors else "output"
            raise CommandLineError(f"job {job_id} ({job['status']}) has no {what} file yet")
        default = Path(f"{job_id}{'.errors' if errors else ''}.jsonl")
        written = download_to(server, file_id, output or default)
    typer.echo(f"wrote {written}")
