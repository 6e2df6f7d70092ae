"""``autan files``: upload, list, download and delete the files of a running server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from autan.cli.command_group import CommandLineError
from autan.cli.ps import size
from autan.cli.server_client import (
    DEFAULT_URL,
    KeyDataDirOpt,
    ServerClient,
    ServerKeyOpt,
    ServerUrlOpt,
)
from autan.cli.table import Table

app = typer.Typer(
    help="Files on a running server: for batch jobs and fine-tuning.", no_args_is_help=True
)

PURPOSES = ("fine-tune", "batch", "ocr")
FileIdArg = Annotated[str, typer.Argument(metavar="FILE_ID", help="The file's id.")]


def when(timestamp: int | None) -> str:
    if not timestamp:
        return "-"
    return f"{datetime.fromtimestamp(timestamp, UTC):%Y-%m-%d %H:%M}"


@app.command("upload")
def upload(
    path: Annotated[
        Path, typer.Argument(help="The file to upload (JSONL for batch and fine-tuning).")
    ],
    purpose: Annotated[
        str, typer.Option(help=f"What it is for: {', '.join(PURPOSES)}.")
    ] = "fine-tune",
    url: ServerUrlOpt = DEFAULT_URL,
    api_key: ServerKeyOpt = None,
    data_dir: KeyDataDirOpt = None,
) -> None:
    """Upload a file and print its id."""
    if purpose not in PURPOSES:
        raise CommandLineError(f"--purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}")
    if not path.is_file():
        raise CommandLineError(f"no file at {path}")
    with ServerClient(url, api_key, data_dir) as server, path.open("rb") as f:
        file = server.request(
            "POST", "/v1/files", files={"file": (path.name, f)}, data={"purpose": purpose}
        )
    typer.echo(f"{file['id']}  {file['filename']}  {size(file['bytes'])}  {file['purpose']}")


@app.command("list")
def list_files(
    purpose: Annotated[str | None, typer.Option(help="Only files for this purpose.")] = None,
    url: ServerUrlOpt = DEFAULT_URL,
    api_key: ServerKeyOpt = None,
    data_dir: KeyDataDirOpt = None,
) -> None:
    """List files: id, name, purpose, size, created."""
    params = {"page_size": 1000, **({"purpose": purpose} if purpose else {})}
    with ServerClient(url, api_key, data_dir) as server:
        files = server.request("GET", "/v1/files", params=params)["data"]
    table = Table("id", "name", "purpose", "size", "created")
    for f in files:
        table.add(f["id"], f["filename"], f["purpose"], size(f["bytes"]), when(f["created_at"]))
    typer.echo(table.render())


def _filename(disposition: str) -> str | None:
    """The bare file name a Content-Disposition header gives, if any."""
    if "filename=" not in disposition:
        return None
    return Path(disposition.split("filename=")[-1].split(";")[0].strip('"')).name or None


def download_to(server: ServerClient, file_id: str, output: Path | None) -> Path:
    """Stream a file's bytes to ``output`` (default: its own name, here), with a progress bar."""
    with server.stream(f"/v1/files/{file_id}/content") as r:
        server.check(r)
        name = output or Path(_filename(r.headers.get("content-disposition", "")) or file_id)
        total = int(r.headers.get("content-length") or 0) or None
        columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, transient=True) as progress, name.open("wb") as out:
            task = progress.add_task("download", total=total)
            for chunk in r.iter_bytes():
                out.write(chunk)
                progress.advance(task, len(chunk))
    return name


@app.command("download")
def download(
    file_id: FileIdArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write it (default: its name).")
    ] = None,
    url: ServerUrlOpt = DEFAULT_URL,
    api_key: ServerKeyOpt = None,
    data_dir: KeyDataDirOpt = None,
) -> None:
    """Download a file's content."""
    with ServerClient(url, api_key, data_dir) as server:
        written = download_to(server, file_id, output)
    typer.echo(f"wrote {written}")


@app.command("delete")
def delete(
    file_id: FileIdArg,
    url: ServerUrlOpt = DEFAULT_URL,
    api_key: ServerKeyOpt = None,
    data_dir: KeyDataDirOpt = None,
) -> None:
    """Delete a file."""
    with ServerClient(url, api_key, data_dir) as server:
        server.request("DELETE", f"/v1/files/{file_id}")
    typer.echo(f"deleted {file_id}")
