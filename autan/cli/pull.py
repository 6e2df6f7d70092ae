"""``autan pull``: download a GGUF into the data dir and declare it in the models file."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from autan.cli import models
from autan.cli.command_group import CommandLineError
from autan.cli.gguf_download import GgufDownload
from autan.cli.model_source import DEFAULT_QUANT, SHORT_NAMES, hf_headers, resolve
from autan.cli.options import DataDirOpt, ModelsFileOpt, build_settings
from autan.models.models_file import ModelsFile

MODELS_DIR = "models"


def pull(
    name: Annotated[
        str,
        typer.Argument(
            metavar="URL_OR_REPO",
            help="An HTTP(S) URL of a .gguf, a Hugging Face repository (owner/repo, "
            f"owner/repo:Q8_0, owner/repo/file.gguf) or a short name: {', '.join(SHORT_NAMES)}.",
        ),
    ],
    model_id: Annotated[
        str | None,
        typer.Option("--id", help="Its id in the models file (default: from the file name)."),
    ] = None,
    quant: Annotated[
        str, typer.Option(help="The quantization to take from a repository.")
    ] = DEFAULT_QUANT,
    revision: Annotated[str, typer.Option(help="Repository branch, tag or commit.")] = "main",
    sha256: Annotated[
        str | None,
        typer.Option(help="The file's expected sha256 (Hugging Face files: read from the hub)."),
    ] = None,
    declare: Annotated[
        bool, typer.Option(help="Declare it in the models file once downloaded.")
    ] = True,
    data_dir: DataDirOpt = None,
    models_file: ModelsFileOpt = None,
) -> None:
    """Download a GGUF into DATA_DIR/models (resumable, sha256 checked when known) and declare
    it in the models file. Hugging Face is reached at HF_ENDPOINT, with HF_TOKEN if set."""
    settings = build_settings(data_dir=data_dir, models_file=models_file)
    source = resolve(name, quant=quant, revision=revision)
    expected = sha256 or source.sha256
    target = settings.data_dir / MODELS_DIR / source.filename
    console = Console(stderr=True)
    if target.exists() and expected is None:
        typer.echo(f"{target} is already here")
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():  # check it, then keep it or fetch it again
            target.replace(target.with_name(target.name + ".part"))
        download = GgufDownload(source.url, target, sha256=expected, headers=hf_headers())
        found = download.run(console)
        typer.echo(f"downloaded {target} (sha256 {found}{', checked' if expected else ''})")
    if not declare:
        return
    declared = next(
        (c for c in ModelsFile(settings.models_path).read() if c.path == target.resolve()), None
    )
    if declared is not None:
        typer.echo(f"{declared.id} already declares it in {settings.models_path}")
        return
    try:
        models.add(str(target), model_id=model_id, models_file=models_file, data_dir=data_dir)
    except typer.Exit:
        raise CommandLineError(
            f"downloaded, but not declared; declare it with `autan models add {target} --id NAME`"
        ) from None
