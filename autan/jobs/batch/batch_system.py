"""Files, batch jobs and the runner that executes them, opened together on one database: the
accounts' when keys are on (lines are then metered and billed), else the server's own."""

from __future__ import annotations

from pathlib import Path

from autan.accounts.accounts import Accounts
from autan.files.file_store import FileStore
from autan.files.url_signer import UrlSigner
from autan.jobs.batch.batch_caller import BatchCaller
from autan.jobs.batch.batch_executor import BatchExecutor
from autan.jobs.batch.batch_service import BatchService
from autan.jobs.job_store import JobStore
from autan.jobs.runner import JobRunner
from autan.observability.request_log import RequestLog
from autan.observability.tracing import Tracing
from autan.settings import FilesSettings, JobsSettings
from autan.storage.blob_store import BlobStore, LocalBlobStore
from autan.storage.database import Database
from autan.storage.database_blob_store import DatabaseBlobStore


class BatchSystem:
    def __init__(
        self,
        files: FileStore,
        batches: BatchService,
        signer: UrlSigner,
        runner: JobRunner | None,
        files_settings: FilesSettings,
    ) -> None:
        self.files = files
        self.batches = batches
        self.signer = signer
        self.runner = runner
        self.files_settings = files_settings

    @classmethod
    def open(
        cls,
        accounts: Accounts | None,
        caller: BatchCaller,
        *,
        data_dir: Path,
        db: Database | None = None,
        files: FilesSettings | None = None,
        jobs: JobsSettings | None = None,
        batch_sequences: int = 8,
        request_log: RequestLog | None = None,
        tracing: Tracing | None = None,
    ) -> BatchSystem:
        """Blobs under ``data_dir/files``; jobs run in this process unless ``jobs.enabled`` is
        off (then another process must run them). ``batch_sequences``, the engine's batch
        slots, sizes a job's lines in flight unless ``jobs.batch_concurrency`` says. Without
        ``accounts`` (``--no-auth``), on ``db``, and lines are not metered. Each line run
        is recorded in ``request_log`` when given; with ``tracing`` each line is a trace of
        its own."""
        if db is None:
            assert accounts is not None, "BatchSystem.open needs accounts or a database"
            db = accounts.db
        files = files or FilesSettings()
        jobs = jobs or JobsSettings()
        file_store = FileStore(
            db, _blob_store(db, data_dir, files), max_bytes=files.max_upload_bytes
        )
        store = JobStore(db)
        runner = None
        if jobs.enabled:
            concurrency = jobs.batch_concurrency or 2 * batch_sequences
            executor = BatchExecutor(
                db,
                accounts,
                file_store,
                caller,
                concurrency=concurrency,
                request_log=request_log,
                tracing=tracing,
            )
            runner = JobRunner(
                store,
                [executor],
                lease_seconds=jobs.lease_seconds,
                poll_seconds=jobs.poll_seconds,
                max_jobs=jobs.max_jobs,
            )
        batches = (
            BatchService(store, file_store, caller)
            if runner is None
            else BatchService(
                store, file_store, caller, on_created=runner.wake, on_cancelled=runner.cancelled
            )
        )
        signer = (
            UrlSigner.from_database(db, data_dir)
            if db.dialect == "postgresql"
            else UrlSigner.from_data_dir(data_dir)
        )
        return cls(file_store, batches, signer, runner, files)

    def start(self) -> None:
        """Start running jobs; needs the event loop the services run on."""
        if self.runner is not None:
            self.runner.start()

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.close()


def _blob_store(db: Database, data_dir: Path, files: FilesSettings) -> BlobStore:
    """The store ``files.store`` names; in the database, files written to the data directory
    before stay readable there."""
    local = LocalBlobStore(data_dir / "files")
    store = files.store
    if store == "auto":
        store = "database" if db.dialect == "postgresql" else "filesystem"
    return local if store == "filesystem" else DatabaseBlobStore(db, fallback=local)
