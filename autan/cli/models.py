"""``autan models``: declare the models to serve, or list those a running server serves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import typer
from pydantic import ValidationError

from autan.cli.options import DataDirOpt, ModelsFileOpt, build_settings
from autan.errors import ModelsFileError
from autan.models.card import Capabilities, DeclaredFormat, ModelCard
from autan.models.footprint import Footprint, GgufUnreadable
from autan.models.loader import declared_cards
from autan.models.models_file import ModelsFile
from autan.models.packaged import PACKAGED_MODELS, PackagedModelMissing, packaged_model_path
from autan.settings import Settings

app = typer.Typer(
    help="The models autan serves: declared in the models file, or asked of a running server.",
    no_args_is_help=True,
)

CAPABILITIES = tuple(Capabilities.model_fields)


def _settings(models_file: Path | None, data_dir: Path | None) -> Settings:
    return build_settings(models_file=models_file, data_dir=data_dir)


def _fail(message: object) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@app.command("add")
def add(
    path: Annotated[
        str,
        typer.Argument(help=f"A GGUF file, or a packaged model ({', '.join(PACKAGED_MODELS)})."),
    ],
    model_id: Annotated[
        str | None, typer.Option("--id", help="Default: the file name, less its quantization tag.")
    ] = None,
    alias: Annotated[
        list[str] | None, typer.Option("--alias", help="Another name it answers to; repeatable.")
    ] = None,
    prompt_format: Annotated[
        DeclaredFormat,
        typer.Option("--format", help="Chat prompt format: auto, template or mistral."),
    ] = "auto",
    tokenizer: Annotated[
        str | None, typer.Option(help="A mistral-common tokenizer file or name.")
    ] = None,
    context_length: Annotated[
        int | None,
        typer.Option(
            help="Tokens per sequence. Default: 4096, capped at the GGUF's training context."
        ),
    ] = None,
    price_input: Annotated[float, typer.Option(help="Price per million prompt tokens.")] = 0.0,
    price_output: Annotated[float, typer.Option(help="Price per million completion tokens.")] = 0.0,
    parallel: Annotated[
        int | None, typer.Option(help="Sequences decoded together (default: serve's --parallel).")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="llama.cpp threads for this model.")] = None,
    capability: Annotated[
        list[str] | None,
        typer.Option(
            help=f"Repeatable; when given, the card has exactly these: {', '.join(CAPABILITIES)}. "
            "Default: completion_chat and function_calling."
        ),
    ] = None,
    preload: Annotated[bool, typer.Option(help="Load it when the server starts.")] = False,
    models_file: ModelsFileOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Declare a model in the models file; it loads when first requested."""
    settings = _settings(models_file, data_dir)
    source: dict[str, object]
    try:
        if path in PACKAGED_MODELS and not Path(path).exists():
            source = {"packaged": path}
            footprint = Footprint.read(packaged_model_path(path))
        else:
            gguf = Path(path).expanduser().resolve()
            source = {"path": gguf}
            footprint = Footprint.read(gguf)
    except (GgufUnreadable, PackagedModelMissing) as e:
        raise _fail(e) from e
    unknown = sorted(set(capability or ()) - set(CAPABILITIES))
    if unknown:
        raise _fail(f"unknown capability {unknown[0]!r}; choose from {', '.join(CAPABILITIES)}")
    entry: dict[str, object] = {
        **source,
        "id": model_id or ModelCard.id_for(footprint.path),
        "aliases": tuple(alias or ()),
        "format": prompt_format,
        "tokenizer": tokenizer,
        "context_length": context_length
        or footprint.context_for(settings.engine.context_per_sequence),
        "price_input": price_input,
        "price_output": price_output,
        "parallel": parallel,
        "threads": threads,
        "preload": preload,
    }
    if capability:
        entry["capabilities"] = {c: c in capability for c in CAPABILITIES}
    file = ModelsFile(settings.models_path)
    try:
        card = ModelCard.model_validate(entry)
        file.add(card)
    except ValidationError as e:
        raise _fail("; ".join(err["msg"] for err in e.errors())) from e
    except ModelsFileError as e:
        raise _fail(e) from e
    typer.echo(f"added {card.id} to {file.path}")
    typer.echo(
        "A running autan serve on this models file serves it without a restart: it reloads "
        "the file when it changes."
    )


@app.command("remove")
def remove(
    model_id: Annotated[str, typer.Argument(metavar="ID", help="The id of the model.")],
    models_file: ModelsFileOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Remove a model from the models file."""
    file = ModelsFile(_settings(models_file, data_dir).models_path)
    try:
        file.remove(model_id)
    except ModelsFileError as e:
        raise _fail(e) from e
    typer.echo(f"removed {model_id} from {file.path}")


@app.command("list")
def list_models(
    url: Annotated[
        str | None,
        typer.Option(help="Ask a running server instead, e.g. http://127.0.0.1:8000."),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="MISTRAL_API_KEY", help="API key for --url.")
    ] = None,
    models_file: ModelsFileOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """List the declared models (or, with --url, those a running server serves)."""
    if url is not None:
        _list_served(url, api_key)
        return
    settings = _settings(models_file, data_dir)
    try:
        cards = declared_cards(settings)
    except ModelsFileError as e:
        raise _fail(e) from e
    if not ModelsFile(settings.models_path).read():
        typer.echo(f"no models declared in {settings.models_path}; autan serve serves:")
    rows = [("ID", "ALIASES", "SOURCE", "FORMAT", "CONTEXT", "PARALLEL", "PRICE IN/OUT", "PRELOAD")]
    for c in cards:
        rows.append(
            (
                c.id,
                ", ".join(c.aliases) or "-",
                f"packaged:{c.packaged}" if c.packaged else str(c.path),
                c.format,
                str(c.context_length or "default"),
                str(c.parallel or "default"),
                f"{c.price_input:g}/{c.price_output:g}",
                "yes" if c.preload else "no",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _list_served(url: str, api_key: str | None) -> None:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        r = httpx.get(f"{url.rstrip('/')}/v1/models", headers=headers, timeout=10)
    except httpx.HTTPError as e:
        typer.echo(f"cannot reach {url}: {e}. Is `autan serve` running?", err=True)
        raise typer.Exit(1) from e
    if r.status_code != 200:
        typer.echo(f"{url} answered {r.status_code}: {r.text}", err=True)
        raise typer.Exit(1)
    for card in r.json()["data"]:
        aliases = ", ".join(card.get("aliases") or []) or "-"
        typer.echo(f"{card['id']}\tcontext {card.get('max_context_length')}\taliases: {aliases}")
