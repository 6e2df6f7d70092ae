"""``autan serve``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from autan.accounts.accounts import ADMIN_KEY_FILE
from autan.api.app import create_app
from autan.cli.options import (
    BatchSlotsOpt,
    ContextOpt,
    DataDirOpt,
    EmbeddingsOpt,
    LogLevelOpt,
    MaxLoadedMemoryOpt,
    ModelOpt,
    ModelsFileOpt,
    ParallelOpt,
    PrefixCacheOpt,
    ThreadsOpt,
    build_settings,
)
from autan.embeddings.service import EmbeddingService
from autan.errors import ModelsFileError
from autan.models.card import ModelCard
from autan.models.footprint import GgufUnreadable
from autan.models.loader import declared_cards, load_registry
from autan.models.packaged import PackagedModelMissing
from autan.models.registry import ModelRegistry
from autan.platform import Platform
from autan.routing.models_watch import ModelsWatch
from autan.settings import Settings


def _open_platform(settings: Settings, registry: ModelRegistry, cards: list[ModelCard]) -> Platform:
    watch = None
    if settings.model.path is None:  # the models come from the models file: follow it
        watch = ModelsWatch(settings.models_path, cards, settings.routing.reload_interval)
    platform = Platform.open(
        settings,
        registry,
        embeddings=EmbeddingService.load(settings.embeddings),
        routed=cards,
        watch=watch,
    )
    if platform.admin_secret is not None:
        path = settings.data_dir / ADMIN_KEY_FILE
        typer.echo(
            f"\nCreated the admin API key (shown once; also saved to {path}, mode 0600):\n"
            f"  {platform.admin_secret}\n"
            "Every /v1 request now needs a key: create them with `autan keys create` or "
            "POST /v1/admin/api-keys.\n"
        )
    return platform


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (8000).")] = None,
    model: ModelOpt = None,
    models_file: ModelsFileOpt = None,
    data_dir: DataDirOpt = None,
    max_loaded_memory: MaxLoadedMemoryOpt = None,
    parallel: ParallelOpt = None,
    batch_slots: BatchSlotsOpt = None,
    threads: ThreadsOpt = None,
    ctx_size: ContextOpt = None,
    prefix_cache: PrefixCacheOpt = None,
    log_level: LogLevelOpt = None,
    embeddings: EmbeddingsOpt = None,
    no_auth: Annotated[
        bool | None,
        typer.Option(
            "--no-auth", help="Serve without API keys, limits or usage: local experiments only."
        ),
    ] = None,
) -> None:
    """Serve the Mistral API (and its OpenAI-compatible subset) on HOST:PORT.

    Serves the models declared in the models file, or only --model PATH.gguf when given, or
    the packaged model when neither exists.
    """
    try:
        settings = build_settings(
            host=host,
            port=port,
            model=model,
            models_file=models_file,
            data_dir=data_dir,
            max_loaded_memory=max_loaded_memory,
            parallel=parallel,
            batch_slots=batch_slots,
            threads=threads,
            context=ctx_size,
            prefix_cache=prefix_cache,
            log_level=log_level,
            embeddings=embeddings,
            no_auth=no_auth,
        )
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise typer.BadParameter(problems) from e
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        cards = declared_cards(settings)
        registry = load_registry(settings, cards)
    except (ModelsFileError, GgufUnreadable, PackagedModelMissing) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from e
    names = [c.id for c in cards]
    url = f"http://{settings.host}:{settings.port}"
    typer.echo(f"autan listening on {url}  (models: {', '.join(names)})")
    typer.echo(
        f"  try: curl {url}/v1/chat/completions -H 'Content-Type: application/json' "
        f'-d \'{{"model": "{names[0]}", '
        f'"messages": [{{"role": "user", "content": "Hello!"}}]}}\''
    )
    if settings.no_auth:
        typer.secho(
            "WARNING: --no-auth: API keys, rate limits and usage accounting are OFF. Anyone who "
            "can reach this port can use it. Do not expose it beyond local experiments.",
            fg=typer.colors.RED,
            bold=True,
            err=True,
        )
        typer.echo(f'  or:  Mistral(api_key="any", server_url="{url}").chat.complete(...)')
    else:
        typer.echo(f"  with -H 'Authorization: Bearer <key>' (admin key: {settings.data_dir})")
    app = create_app(lambda: _open_platform(settings, registry, cards), settings.limits)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )
