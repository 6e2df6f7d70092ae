"""``autan serve``."""

from __future__ import annotations

import fcntl
import logging
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from autan.accounts.accounts import ADMIN_KEY_FILE, Accounts
from autan.accounts.prices import CardPrices
from autan.api.app import OpenAccounts, OpenBatch, OpenFineTuning, create_app
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
from autan.files.file_store import FileStore
from autan.fine_tuning.fine_tuning_service import FineTuningService
from autan.fine_tuning.training_files import (
    DirectoryTrainingFiles,
    StoredTrainingFiles,
    TrainingFiles,
)
from autan.jobs.batch.batch_caller import BatchCaller
from autan.jobs.batch.batch_system import BatchSystem
from autan.models.footprint import GgufUnreadable
from autan.models.loader import load_registry
from autan.models.packaged import PackagedModelMissing
from autan.models.registry import ModelRegistry
from autan.settings import Settings
from autan.storage.blob_store import LocalBlobStore
from autan.storage.database import Database


def _accounts_opener(settings: Settings) -> OpenAccounts:
    def open_accounts(registry: ModelRegistry) -> Accounts:
        accounts = Accounts.open(settings, CardPrices(registry))
        secret = accounts.bootstrap_admin_key(settings.data_dir)
        if secret is not None:
            path = settings.data_dir / ADMIN_KEY_FILE
            typer.echo(
                f"\nCreated the admin API key (shown once; also saved to {path}, mode 0600):\n"
                f"  {secret}\n"
                "Every /v1 request now needs a key: create them with `autan keys create` or "
                "POST /v1/admin/api-keys.\n"
            )
        return accounts

    return open_accounts


def _batch_opener(settings: Settings) -> OpenBatch:
    def open_batch(accounts: Accounts, caller: BatchCaller) -> BatchSystem:
        return BatchSystem.open(
            accounts,
            caller,
            data_dir=settings.data_dir,
            files=settings.files,
            jobs=settings.jobs,
            batch_sequences=settings.engine.batch_sequences,
        )

    return open_batch


def _open_database(settings: Settings) -> Database:
    """The database without accounts (``--no-auth``), for fine-tuning jobs. Servers started
    together on one data directory take turns to migrate it: SQLite has no advisory lock."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with (settings.data_dir / ".migrate.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return Database.open(settings.database_url, settings.data_dir)


def _fine_tuning_opener(settings: Settings) -> OpenFineTuning | None:
    if not settings.fine_tuning.enabled:
        return None

    def open_fine_tuning(registry: ModelRegistry, accounts: Accounts | None) -> FineTuningService:
        training: TrainingFiles
        if accounts is not None:  # files uploaded through /v1/files, in the batch blob store
            blobs = LocalBlobStore(settings.data_dir / "files")
            store = FileStore(accounts.db, blobs, max_bytes=settings.files.max_upload_bytes)
            training = StoredTrainingFiles(store)
        else:  # --no-auth has no Files API: <data_dir>/training-files/<file_id>.jsonl
            training = DirectoryTrainingFiles(settings.data_dir / "training-files")
        return FineTuningService(
            accounts.db if accounts else _open_database(settings),
            registry,
            training,
            settings.fine_tuning,
            settings.data_dir / "fine_tuning",
            jobs=settings.jobs,  # its own runner's, when no batch runner runs it (--no-auth)
        )

    return open_fine_tuning


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
    app = create_app(
        lambda: registry,
        None if settings.no_auth else _accounts_opener(settings),
        lambda: EmbeddingService.load(settings.embeddings),
        None if settings.no_auth else _batch_opener(settings),
        _fine_tuning_opener(settings),
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )
