"""``autan worker``: the job runner of ``autan serve`` without its HTTP server."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from pydantic import ValidationError

from autan.cli.command_group import validation_problems
from autan.cli.heap import freeze_startup_heap
from autan.cli.options import (
    BatchSlotsOpt,
    ContextOpt,
    DataDirOpt,
    EmbeddingsOpt,
    LogFormatOpt,
    LogLevelOpt,
    MaxLoadedMemoryOpt,
    ModelOpt,
    ModelsFileOpt,
    ParallelOpt,
    PrefixCacheOpt,
    ThreadsOpt,
    build_settings,
)
from autan.cli.serve import load_models, open_platform
from autan.models.card import ModelCard
from autan.models.registry import ModelRegistry
from autan.observability.log_format import configure_logging
from autan.settings import Settings


def worker(
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
    log_format: LogFormatOpt = None,
    embeddings: EmbeddingsOpt = None,
    no_auth: Annotated[
        bool | None,
        typer.Option(
            "--no-auth",
            envvar="AUTAN_NO_AUTH",
            help="Run the jobs of `autan serve --no-auth` (one local workspace, nothing metered).",
        ),
    ] = None,
) -> None:
    """Run batch and fine-tuning jobs, serving no HTTP.

    Opens the same database, models, routes, accounts and files as `autan serve` (same
    AUTAN_* settings), claims jobs from the database with leases, and answers their lines
    metered like API requests. Pair it with `autan serve --no-jobs`. SIGTERM or Ctrl-C:
    stops claiming, hands the running jobs back at once for another process, writes the
    usage and the request log, and exits 0.
    """
    try:
        settings = build_settings(
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
            log_format=log_format,
            embeddings=embeddings,
            no_auth=no_auth,
            jobs=True,
        )
    except ValidationError as e:
        raise typer.BadParameter(validation_problems(e)) from e
    configure_logging(settings.log_level, settings.log_format)
    cards, registry = load_models(settings)
    freeze_startup_heap()
    asyncio.run(_run(settings, registry, cards))


async def _run(settings: Settings, registry: ModelRegistry, cards: list[ModelCard]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        platform = open_platform(settings, registry, cards)
    except BaseException:
        registry.close()
        raise
    try:
        await platform.start()
        typer.echo(
            f"autan worker running jobs (models: {', '.join(c.id for c in cards)}); "
            "SIGTERM or Ctrl-C hands them back and stops"
        )
        await stop.wait()
    finally:
        await platform.close()
    typer.echo("autan worker stopped: its jobs are handed back")
