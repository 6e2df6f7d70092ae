"""``autan serve``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from autan.api.app import create_app
from autan.cli.options import (
    ContextOpt,
    DataDirOpt,
    EmbeddingsOpt,
    LogLevelOpt,
    MaxLoadedMemoryOpt,
    ModelOpt,
    ModelsFileOpt,
    ParallelOpt,
    ThreadsOpt,
    build_settings,
)
from autan.embeddings.service import EmbeddingService
from autan.errors import ModelsFileError
from autan.models.footprint import GgufUnreadable
from autan.models.loader import load_registry
from autan.models.packaged import PackagedModelMissing


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (8000).")] = None,
    model: ModelOpt = None,
    models_file: ModelsFileOpt = None,
    data_dir: DataDirOpt = None,
    max_loaded_memory: MaxLoadedMemoryOpt = None,
    parallel: ParallelOpt = None,
    threads: ThreadsOpt = None,
    ctx_size: ContextOpt = None,
    log_level: LogLevelOpt = None,
    embeddings: EmbeddingsOpt = None,
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
            threads=threads,
            context=ctx_size,
            log_level=log_level,
            embeddings=embeddings,
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
        registry = load_registry(settings)
    except (ModelsFileError, GgufUnreadable, PackagedModelMissing) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from e
    names = [m.id for m in registry]
    url = f"http://{settings.host}:{settings.port}"
    typer.echo(f"autan listening on {url}  (models: {', '.join(names)})")
    typer.echo(
        f"  try: curl {url}/v1/chat/completions -H 'Content-Type: application/json' "
        f'-d \'{{"model": "{names[0]}", '
        f'"messages": [{{"role": "user", "content": "Hello!"}}]}}\''
    )
    typer.echo(f'  or:  Mistral(api_key="any", server_url="{url}").chat.complete(...)')
    app = create_app(lambda: registry, lambda: EmbeddingService.load(settings.embeddings))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )
