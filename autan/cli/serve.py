"""``autan serve``."""

from __future__ import annotations

import errno
import shlex
import socket
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from autan.accounts.accounts import ADMIN_KEY_FILE
from autan.api.app import create_app
from autan.cli.command_group import fail, validation_problems
from autan.cli.heap import freeze_startup_heap
from autan.cli.options import (
    BatchSlotsOpt,
    ContextOpt,
    DataDirOpt,
    EmbeddingsOpt,
    LogFormatOpt,
    LogLevelOpt,
    MaxLoadedMemoryOpt,
    MetricsAuthOpt,
    MetricsPortOpt,
    ModelOpt,
    ModelsFileOpt,
    ParallelOpt,
    PrefixCacheOpt,
    SpeculativeOpt,
    ThreadsOpt,
    build_settings,
)
from autan.cli.ps import size
from autan.embeddings.service import EmbeddingService
from autan.errors import ModelsFileError
from autan.models.card import ModelCard
from autan.models.footprint import GgufUnreadable
from autan.models.loader import declared_cards, load_registry
from autan.models.packaged import PackagedModelMissing
from autan.models.registry import ModelRegistry
from autan.observability.log_format import configure_logging
from autan.platform import Platform
from autan.routing.models_watch import ModelsWatch
from autan.settings import Settings


def open_platform(settings: Settings, registry: ModelRegistry, cards: list[ModelCard]) -> Platform:
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
    host: Annotated[
        str | None,
        typer.Option(envvar="AUTAN_HOST", help="Address to listen on (default 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(envvar="AUTAN_PORT", help="Port to listen on (default 8000).")
    ] = None,
    model: ModelOpt = None,
    models_file: ModelsFileOpt = None,
    data_dir: DataDirOpt = None,
    max_loaded_memory: MaxLoadedMemoryOpt = None,
    parallel: ParallelOpt = None,
    batch_slots: BatchSlotsOpt = None,
    threads: ThreadsOpt = None,
    ctx_size: ContextOpt = None,
    prefix_cache: PrefixCacheOpt = None,
    speculative: SpeculativeOpt = None,
    log_level: LogLevelOpt = None,
    log_format: LogFormatOpt = None,
    embeddings: EmbeddingsOpt = None,
    metrics_port: MetricsPortOpt = None,
    metrics_auth: MetricsAuthOpt = None,
    no_auth: Annotated[
        bool | None,
        typer.Option(
            "--no-auth",
            envvar="AUTAN_NO_AUTH",
            help="Serve without API keys, limits or usage: local experiments only.",
        ),
    ] = None,
    no_jobs: Annotated[
        bool,
        typer.Option(
            "--no-jobs",
            help="Run no batch or fine-tuning job here: `autan worker` processes on the same "
            "database run them (else AUTAN_JOBS__ENABLED).",
        ),
    ] = False,
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
            speculative=speculative,
            log_level=log_level,
            log_format=log_format,
            embeddings=embeddings,
            metrics_port=metrics_port,
            metrics_auth=metrics_auth,
            no_auth=no_auth,
            jobs=False if no_jobs else None,
        )
    except ValidationError as e:
        raise typer.BadParameter(validation_problems(e)) from e
    configure_logging(settings.log_level, settings.log_format)
    cards, registry = load_models(settings)
    try:
        sock = _bind(settings.host, settings.port)
    except typer.Exit:
        registry.close()
        raise
    url = _served_url(settings)
    local = {m.id: m for m in registry}
    models = ", ".join(
        f"{c.id} ({size(local[c.id].plan.memory_bytes)})" if c.id in local else f"{c.id} (routed)"
        for c in cards
    )
    first = cards[0].id
    metrics = ""
    if settings.metrics.enabled and settings.metrics.port is not None:
        metrics = f"  (metrics: http://{settings.host}:{settings.metrics.port}/metrics)"
    typer.echo(f"autan listening on {url}  (models: {models}){metrics}")
    auth = ""
    if not settings.no_auth:
        key_file = settings.data_dir / ADMIN_KEY_FILE
        auth = f'-H "Authorization: Bearer $(cat {shlex.quote(str(key_file))})" '
    typer.echo(
        f"  try: curl {url}/v1/chat/completions {auth}-H 'Content-Type: application/json' "
        f'-d \'{{"model": "{first}", '
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
        typer.echo(
            f"  the admin key is in {settings.data_dir / ADMIN_KEY_FILE}; "
            "make others with `autan keys create`"
        )
    app = create_app(lambda: open_platform(settings, registry, cards), settings.limits)
    # JSON logs: configure_logging has set the handlers uvicorn would otherwise set.
    uvicorn_logs = {"log_config": None} if settings.log_format == "json" else {}
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
        **uvicorn_logs,  # type: ignore[arg-type]
    )
    freeze_startup_heap()
    uvicorn.Server(config).run(sockets=[sock])


def load_models(settings: Settings) -> tuple[list[ModelCard], ModelRegistry]:
    """The declared models and the registry of those this process loads itself; a models
    file or a GGUF that does not read is one error line and exit 1."""
    try:
        cards = declared_cards(settings)
        return cards, load_registry(settings, cards)
    except (ModelsFileError, GgufUnreadable, PackagedModelMissing) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from e


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed or written: a port in use stops
    the server here, before the admin key is made."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family = infos[0][0]
        return socket.create_server((host, port), family=family, backlog=2048)
    except socket.gaierror as e:
        raise fail(f"cannot listen on {host}: {e.strerror}") from e
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise fail(
                f"port {port} on {host} is in use (another autan serve?): stop it or pick "
                "another with --port"
            ) from e
        raise fail(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


def _served_url(settings: Settings) -> str:
    return settings.model_copy(
        update={"files": settings.files.model_copy(update={"public_url": None})}
    ).public_url
