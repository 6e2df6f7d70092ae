"""``autan fine-tuning``: create, follow, list and cancel fine-tuning jobs on a running
server."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from autan.cli.files import when
from autan.cli.server_client import (
    DEFAULT_URL,
    KeyDataDirOpt,
    ServerClient,
    ServerKeyOpt,
    ServerUrlOpt,
)
from autan.cli.table import Table

app = typer.Typer(help="LoRA fine-tuning jobs on a running server.", no_args_is_help=True)

ENDED = {"SUCCESS", "FAILED", "FAILED_VALIDATION", "CANCELLED"}
JobIdArg = Annotated[str, typer.Argument(metavar="JOB_ID", help="The fine-tuning job's id.")]
WaitOpt = Annotated[
    bool,
    typer.Option("--wait", help="Follow the job (step, loss, time left) until it ends."),
]


def training_progress(job: dict[str, Any], now: float) -> tuple[int, int | None, str]:
    """(step reached, total steps, "loss 1.23, 2m left") from the job's events and checkpoints.

    Time left is the time per step measured since training started, times the steps left;
    before the first checkpoint it is the server's own estimate, said as such."""
    started = next((e for e in job.get("events", []) if e["name"] == "training-started"), None)
    total = (started or {}).get("data", {}).get("total_steps") or job["hyperparameters"].get(
        "training_steps"
    )
    checkpoints = sorted(job.get("checkpoints", []), key=lambda c: c["step_number"])
    step = checkpoints[-1]["step_number"] if checkpoints else 0
    parts = []
    if checkpoints and checkpoints[-1]["metrics"].get("train_loss") is not None:
        parts.append(f"loss {checkpoints[-1]['metrics']['train_loss']:.3f}")
    if started and step and total:
        per_step = (checkpoints[-1]["created_at"] - started["created_at"]) / step
        left = max(0.0, per_step * (total - step) - (now - checkpoints[-1]["created_at"]))
        parts.append(f"about {_duration(left)} left")
    elif (job.get("metadata") or {}).get("expected_duration_seconds"):
        expected = job["metadata"]["expected_duration_seconds"]
        parts.append(f"server's estimate {_duration(expected)} in all")
    return step, total, ", ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def follow(server: ServerClient, job: dict[str, Any], console: Console) -> dict[str, Any]:
    """Poll the job until it ends; Ctrl-C stops following, not the job."""
    columns = (
        TextColumn("{task.fields[status]:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps  {task.fields[figures]}"),
    )
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("train", total=None, status=job["status"], figures="")
            while True:
                step, total, figures = training_progress(job, time.time())
                progress.update(
                    task, completed=step, total=total, status=job["status"], figures=figures
                )
                if job["status"] in ENDED:
                    return job
                time.sleep(1)
                job = server.request("GET", f"/v1/fine_tuning/jobs/{job['id']}")
    except KeyboardInterrupt:
        console.print(f"stopped following; the job goes on (`autan fine-tuning show {job['id']}`)")
        raise typer.Exit(130) from None


@app.command("create")
def create(
    model: Annotated[str, typer.Option(help="The base model (a served model's id).")],
    training_file: Annotated[
        list[str],
        typer.Option(help="A JSONL file of chats (uploaded first) or a file id (repeat)."),
    ],
    validation_file: Annotated[
        list[str] | None, typer.Option(help="A JSONL file or file id to measure on (repeat).")
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Training steps (default: from epochs).")
    ] = None,
    epochs: Annotated[float | None, typer.Option(min=0, help="Passes over the data.")] = None,
    learning_rate: Annotated[float, typer.Option(min=0, help="Learning rate.")] = 1e-4,
    suffix: Annotated[
        str | None, typer.Option(help="Added to the fine-tuned model's name.")
    ] = None,
    wait: WaitOpt = False,
    url: ServerUrlOpt = DEFAULT_URL,
    api_key: ServerKeyOpt = None,
    data_dir: KeyDataDirOpt = None,
) -> None:
    """Start a fine-tuning job (its files are uploaded first when they are paths)."""
    console = Console(stderr=True)
    with ServerClient(url, api_key, data_dir) as server:
        body = {
            "model": model,
            "training_files": [
                {"file_id": server.file_id(f, "fine-tune"), "weight": 1} for f in training_file
            ],
            "validation_files": [server.file_id(f, "fine-tune") for f in validation_file or ()]
            or None,
            "hyperparameters": {
                "training_steps": steps,
                "epochs": epochs,
                "learning_rate": learning_rate,
            },
            "suffix": suffix,
            "auto_start": True,
        }
        job = server.request("POST", "/v1/fine_tuning/jobs", json=body)
        typer.echo(f"created fine-tuning job {job['id']} ({job['status']})")
        if wait:
            job = follow(
                server, server.request("GET", f"/v1/fine_tuning/jobs/{job['id']}"), console
            )
            model_line = f", model {job['fine_tuned_model']}" if job.get("fine_tuned_model") else ""
            typer.echo(f"{job['id']}: {job['status']}{model_line}")
            if job["status"] != "SUCCESS":
                raise typer.Exit(1)


@app.command("list")
def list_jobs(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    url: ServerUrlOpt = DEFAULT_URL,
    api_key: ServerKeyOpt = None,
    data_dir: KeyDataDirOpt = None,
) -> None:
    """Fine-tuning jobs, newest first: status, base model, fine-tuned model, created."""
    with ServerClient(url, api_key, data_dir) as server:
        jobs = server.request("GET", "/v1/fine_tuning/jobs", params={"page_size": limit})["data"]
    table = Table("id", "status", "model", "fine-tuned model", "created")
    for j in jobs:
        table.add(
            j["id"],
            j["status"],
            j["model"],
            j.get("fine_tuned_model") or "-",
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
    """One job as JSON, with its events and checkpoints (with --wait, once it has ended)."""
    with ServerClient(url, api_key, data_dir) as server:
        job = server.request("GET", f"/v1/fine_tuning/jobs/{job_id}")
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
    """Cancel a job: at once when it is not training, else once its trainer stops."""
    with ServerClient(url, api_key, data_dir) as server:
        job = server.request("POST", f"/v1/fine_tuning/jobs/{job_id}/cancel")
    typer.echo(f"{job['id']}: {job['status']}")
