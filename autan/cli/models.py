"""``autan models``: declare the models to serve, or list those a running server serves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import typer
from pydantic import ValidationError

from autan.cli.options import DataDirOpt, ModelsFileOpt, build_settings
from autan.errors import ModelsFileError
from autan.models.card import BackendName, Capabilities, DeclaredFormat, Deployment, ModelCard
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
    backend: Annotated[
        BackendName | None,
        typer.Option(
            help="Route the model NAME (the argument) to a remote server instead: openai (vLLM, "
            "llama-server, Ollama, SGLang, another autan) or mistral (La Plateforme). Run again "
            "with another --url to add a replica."
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="With --backend: the base URL as the SDKs take it (ending in /v1 for openai; "
            "the server_url for mistral)."
        ),
    ] = None,
    upstream_model: Annotated[
        str | None, typer.Option(help="With --backend: the model's name on that server.")
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            help="With --backend: the environment variable holding that server's API key "
            "(the key itself is never written in the file)."
        ),
    ] = None,
    weight: Annotated[
        float, typer.Option(help="With --backend: this deployment's share of the traffic.")
    ] = 1.0,
    max_concurrent: Annotated[
        int | None, typer.Option(help="With --backend: requests in flight there at most.")
    ] = None,
    fallback: Annotated[
        list[str] | None,
        typer.Option(help="Another served model to try when this one fails; repeatable."),
    ] = None,
    models_file: ModelsFileOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Declare a model in the models file; it loads when first requested. With --backend,
    declare (or add a replica to) a model routed to another server. A running server picks
    the change up within a second, without a restart."""
    settings = _settings(models_file, data_dir)
    if backend is not None:
        _add_deployment(
            settings.models_path,
            path,
            {
                "backend": backend,
                "url": url,
                "upstream_model": upstream_model,
                "api_key_env": api_key_env,
                "weight": weight,
                "max_concurrent": max_concurrent,
                "context_length": context_length,
            },
            {
                "aliases": tuple(alias or ()),
                "price_input": price_input,
                "price_output": price_output,
                "fallbacks": tuple(fallback or ()),
                **(
                    {"capabilities": {c: c in capability for c in CAPABILITIES}}
                    if capability
                    else {}
                ),
            },
        )
        return
    if url is not None or upstream_model is not None or api_key_env is not None:
        raise _fail("--url, --upstream-model and --api-key-env go with --backend")
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


def _capabilities(given: list[str] | None) -> dict[str, object]:
    return {"capabilities": {c: c in given for c in CAPABILITIES}} if given else {}


def _add_deployment(
    path: Path, name: str, deployment: dict[str, object], model: dict[str, object]
) -> None:
    if not deployment["url"] or not deployment["upstream_model"]:
        raise _fail("--backend needs --url and --upstream-model")
    file = ModelsFile(path)
    try:
        new = Deployment.model_validate({k: v for k, v in deployment.items() if v is not None})
        cards = file.read()
        existing = next((c for c in cards if c.id == name), None)
        if existing is None:
            card = ModelCard.model_validate({"id": name, "deployments": (new,), **model})
            cards.append(card)
        elif not existing.routed:
            raise _fail(f"model {name!r} is served by this server's engine, not routed")
        elif any(d.name == new.name for d in existing.deployments):
            raise _fail(f"model {name!r} already has the deployment {new.name}")
        else:
            card = existing.model_copy(update={"deployments": (*existing.deployments, new)})
            cards = [card if c is existing else c for c in cards]
        file.write(cards)
    except ValidationError as e:
        raise _fail(
            "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        ) from e
    except ModelsFileError as e:
        raise _fail(e) from e
    count = len(card.deployments)
    typer.echo(
        f"added deployment {new.name} to model {name} ({count} deployment"
        f"{'s' if count > 1 else ''}) in {file.path}\n"
        "a running server picks it up within a second, without a restart"
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
                _source(c),
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


def _source(card: ModelCard) -> str:
    if card.routed:
        return ", ".join(d.name for d in card.deployments)
    return f"packaged:{card.packaged}" if card.packaged else str(card.path)


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
