"""``autan serve``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
import uvicorn

from autan.api.app import create_app
from autan.cli.options import (
    ContextOpt,
    LogLevelOpt,
    ModelOpt,
    ParallelOpt,
    PrefixCacheOpt,
    ThreadsOpt,
    build_settings,
)
from autan.models.loader import load_registry


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (8000).")] = None,
    model: ModelOpt = None,
    parallel: ParallelOpt = None,
    threads: ThreadsOpt = None,
    ctx_size: ContextOpt = None,
    prefix_cache: PrefixCacheOpt = None,
    log_level: LogLevelOpt = None,
) -> None:
    """Serve the Mistral API (and its OpenAI-compatible subset) on HOST:PORT."""
    settings = build_settings(
        host=host,
        port=port,
        model=model,
        parallel=parallel,
        threads=threads,
        context=ctx_size,
        prefix_cache=prefix_cache,
        log_level=log_level,
    )
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    url = f"http://{settings.host}:{settings.port}"
    typer.echo(f"autan listening on {url}  (model {settings.model.id})")
    typer.echo(
        f"  try: curl {url}/v1/chat/completions -H 'Content-Type: application/json' "
        f'-d \'{{"model": "{settings.model.id}", '
        f'"messages": [{{"role": "user", "content": "Hello!"}}]}}\''
    )
    typer.echo(f'  or:  Mistral(api_key="any", server_url="{url}").chat.complete(...)')
    app = create_app(lambda: load_registry(settings))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )
