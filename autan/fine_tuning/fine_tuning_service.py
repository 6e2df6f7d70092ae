"""Fine-tuning as the API sees it: jobs created, listed, started and cancelled; the models they
make registered with the model registry, renamed, archived and deleted.

A fine-tuned model is served as its base GGUF with the job's LoRA adapter applied by llama.cpp,
in an engine of its own (llama.cpp sets adapters per context, so the base model's engine cannot
serve it too). The adapter is a few MB; the base weights are memory-mapped, so the two engines
share them in the page cache.

On a shared blob store (``files.store`` database, PostgreSQL's default) adapters and the
checkpoints of running jobs live in it too: any process on the database serves a model
another trained (``FineTunedModels``), and any worker resumes a job another started
(``SharedCheckpoint``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autan.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    InvalidTrainingData,
    NotFound,
    TrainingFileNotFound,
)
from autan.fine_tuning.dataset import Dataset
from autan.fine_tuning.fine_tuned_models import FineTunedModels
from autan.fine_tuning.fine_tuning_executor import MAX_JOBS, FineTuningExecutor
from autan.fine_tuning.fine_tuning_job import FineTunedModel, FineTuningJob, TrainingFileRef
from autan.fine_tuning.fine_tuning_jobs import FineTuningJobs
from autan.fine_tuning.model_store import FineTunedModelStore
from autan.fine_tuning.shared_blobs import SharedBlobs
from autan.fine_tuning.shared_checkpoint import SharedCheckpoint
from autan.fine_tuning.training_config import (
    ADAPTER_FILE,
    DATA_DIR,
    TrainingConfig,
    WeightedFile,
)
from autan.fine_tuning.training_files import TrainingFiles
from autan.jobs.job import JobStatus
from autan.jobs.job_store import JobStore
from autan.jobs.runner import JobRunner
from autan.models.card import ModelCard
from autan.models.registry import ModelRegistry
from autan.settings import DEFAULT_CURRENCY, FineTuningSettings, JobsSettings
from autan.storage.blob_store import BlobStore
from autan.storage.database import Database
from autan.storage.tables import utcnow

log = logging.getLogger(__name__)

# Seconds per training step on 2 cores for SmolLM2-135M (docs/benchmarks.md), for estimates.
_SECONDS_PER_STEP = 2.0


@dataclass(frozen=True, slots=True)
class JobRequest:
    model: str
    training_files: list[TrainingFileRef]
    validation_files: list[str]
    hyperparameters: dict[str, Any]
    suffix: str | None = None
    auto_start: bool = False
    skip_fraction: float = 0.0


class FineTuningService:
    def __init__(
        self,
        db: Database,
        registry: ModelRegistry,
        files: TrainingFiles,
        settings: FineTuningSettings,
        work_dir: Path,
        jobs: JobsSettings | None = None,
        *,
        currency: str = DEFAULT_CURRENCY,
        blobs: BlobStore | None = None,
    ) -> None:
        """``blobs``: the Files API's blob store; when shared (in the database), adapters and
        the checkpoints of running jobs are kept in it too."""
        self.jobs = FineTuningJobs(JobStore(db))
        self._currency = currency  # of estimated costs: AccountsSettings.currency
        self.models = FineTunedModelStore(db)
        self._registry = registry
        self._files = files
        self._settings = settings
        self._jobs_settings = jobs or JobsSettings()
        self._work_dir = work_dir
        self._shared = SharedBlobs(blobs) if blobs is not None and blobs.shared else None
        self.served = FineTunedModels(
            self.models, registry, work_dir, self._shared, sync_seconds=settings.models_sync_seconds
        )
        self.executor = FineTuningExecutor(
            self.jobs,
            settings,
            work_dir,
            validate=self._validate,
            prepare_run=self._prepare_run,
            finish=self._finish,
            checkpoint=None if self._shared is None else SharedCheckpoint(self._shared, self.jobs),
        )
        self._runner: JobRunner | None = None
        self._own_runner = False

    async def start(self, runner: JobRunner | None = None) -> None:
        """Serve the fine-tuned models made before, then have ``runner`` (the process's job
        runner, not started yet) run fine-tuning jobs too; without one, run them on a runner
        of their own (a server without batch jobs), unless jobs are off in this process."""
        # Copies of uploaded files that earlier versions kept for good.
        shutil.rmtree(self._work_dir / "files", ignore_errors=True)
        self.served.start()
        if runner is None and self._jobs_settings.enabled:
            settings = self._jobs_settings
            runner = JobRunner(
                self.jobs.store,
                [],
                lease_seconds=settings.lease_seconds,
                poll_seconds=settings.poll_seconds,
                max_jobs=settings.max_jobs,
            )
            self._own_runner = True
        if runner is not None:
            runner.add(self.executor, max_jobs=MAX_JOBS)
        self._runner = runner
        if self._own_runner and runner is not None:
            runner.start()

    async def stop(self) -> None:
        """Stop running jobs here (a runner of its own only); a job training now stays
        RUNNING, its trainer killed, and resumes on the next start."""
        await self.served.stop()
        if self._own_runner and self._runner is not None:
            await self._runner.close()

    def _wake(self) -> None:
        if self._runner is not None:
            self._runner.wake()

    # Jobs

    def create(
        self, workspace_id: str, request: JobRequest, *, key_id: str | None = None
    ) -> FineTuningJob:
        """Queue the job; 404 for a file ``key_id`` may not read, as ``/v1/files`` answers."""
        base = self._base_card(request.model)
        for f in request.training_files:
            self._files.check(f.file_id, workspace_id, key_id)
        for file_id in request.validation_files:
            self._files.check(file_id, workspace_id, key_id)
        job = self.jobs.create(
            workspace_id=workspace_id,
            key_id=key_id,
            model=base.id,
            hyperparameters=request.hyperparameters,
            training_files=request.training_files,
            validation_files=request.validation_files,
            suffix=request.suffix,
            auto_start=request.auto_start,
            metadata={"skip_fraction": request.skip_fraction} if request.skip_fraction else None,
        )
        self._wake()
        return job

    def dry_run(
        self, workspace_id: str, request: JobRequest, *, key_id: str | None = None
    ) -> dict[str, Any]:
        """Check the data now and estimate the job, without creating it."""
        self._base_card(request.model)
        examples, characters = self._read(workspace_id, key_id, request)
        steps, epochs = self._steps(request.hyperparameters, examples)
        return {
            "details": f"{examples} valid training examples; {steps} steps of "
            f"{self._settings.batch_size} examples",
            "training_steps": steps,
            "epochs": epochs,
            "data_tokens": characters // 4,  # about 4 characters a token in English
            "expected_duration_seconds": int(steps * _SECONDS_PER_STEP),
            "cost": 0.0,
            "cost_currency": self._currency,
        }

    def start_job(self, workspace_id: str, job_id: str) -> FineTuningJob:
        job = self.jobs.get(job_id, workspace_id)
        if job.status not in (JobStatus.QUEUED, JobStatus.VALIDATING, JobStatus.VALIDATED):
            raise Conflict(f"Job {job_id} is {job.status.value}; only a validated job can start")
        self.jobs.request_start(job_id)
        self._wake()
        return self.jobs.get(job_id)

    def cancel(self, workspace_id: str, job_id: str) -> FineTuningJob:
        """Cancel a waiting job at once; a running one stops as soon as its worker hears of it
        (at once when it runs in this process)."""
        job = self.jobs.cancel(job_id, workspace_id)
        if self._runner is not None and job.status is JobStatus.CANCELLATION_REQUESTED:
            self._runner.cancelled(job_id)
            self._runner.wake()  # a job nobody holds is cancelled by the next worker that looks
        return job

    # Fine-tuned models

    def update_model(self, workspace_id: str, model_id: str, **fields: Any) -> FineTunedModel:
        self.models.get(model_id, workspace_id)
        return self.models.update(model_id, **fields)

    def set_archived(self, workspace_id: str, model_id: str, archived: bool) -> FineTunedModel:
        self.models.get(model_id, workspace_id)
        return self.models.update(model_id, archived=archived)

    async def delete_model(self, workspace_id: str | None, model_id: str) -> None:
        """Stop serving the model and delete its adapter, on every process (the others at
        their next look); 403 for a base model."""
        try:
            model = await asyncio.to_thread(self.models.get, model_id, workspace_id)
        except NotFound:
            if await asyncio.to_thread(self.fine_tuned, model_id) is not None:
                raise  # another workspace's
            self._registry.resolve(model_id)  # 404 when it is no model at all
            raise Forbidden(
                f"Model {model_id} is not a fine-tuned model; it cannot be deleted"
            ) from None
        await self.served.delete(model)

    def fine_tuned(self, model_id: str) -> FineTunedModel | None:
        try:
            return self.models.get(model_id)
        except NotFound:
            return None

    # The loop's steps

    async def _validate(self, job: FineTuningJob) -> bool:
        request = JobRequest(
            model=job.model,
            training_files=job.training_files,
            validation_files=job.validation_files,
            hyperparameters=job.hyperparameters,
            skip_fraction=(job.metadata or {}).get("skip_fraction", 0.0),
        )
        try:
            examples, characters = await asyncio.to_thread(
                self._read, job.workspace_id, job.key_id, request
            )
        except (InvalidTrainingData, TrainingFileNotFound) as e:
            reasons = getattr(e, "reasons", [e.message])
            await asyncio.to_thread(
                self.jobs.transition,
                job.id,
                JobStatus.FAILED_VALIDATION,
                only_from=[JobStatus.VALIDATING],
                data={"error": e.message, "reasons": reasons[:100]},
                result={"error": e.message},
            )
            return False
        steps, epochs = self._steps(job.hyperparameters, examples)
        return await asyncio.to_thread(
            self.jobs.transition,
            job.id,
            JobStatus.VALIDATED,
            only_from=[JobStatus.VALIDATING],
            spec={
                "hyperparameters": {
                    **job.hyperparameters,
                    "training_steps": steps,
                    "epochs": epochs,
                }
            },
            metadata={
                "data_tokens": characters // 4,
                "expected_duration_seconds": int(steps * _SECONDS_PER_STEP),
            },
        )

    def _prepare_run(self, job: FineTuningJob) -> Path:
        h = {**self._defaults(), **{k: v for k, v in job.hyperparameters.items() if v is not None}}
        run_dir = self._work_dir / job.id
        # The job's own copies of its files, deleted when its trainer stops.
        data = run_dir / DATA_DIR
        TrainingConfig(
            base_gguf=self._base_card(job.model).gguf_path(),
            cache_dir=self._settings.model_cache_dir or self._work_dir / "base-models",
            training_files=[
                WeightedFile(
                    path=self._files.copy(f.file_id, job.workspace_id, job.key_id, data),
                    weight=f.weight,
                )
                for f in job.training_files
            ],
            validation_files=[
                self._files.copy(v, job.workspace_id, job.key_id, data)
                for v in job.validation_files
            ],
            training_steps=h["training_steps"],
            learning_rate=h["learning_rate"],
            weight_decay=h["weight_decay"],
            warmup_fraction=h["warmup_fraction"],
            seq_len=h["seq_len"],
            batch_size=self._settings.batch_size,
            lora_rank=self._settings.lora_rank,
            lora_alpha=self._settings.lora_alpha,
            checkpoint_every=max(1, math.ceil(h["training_steps"] / self._settings.checkpoints)),
            threads=self._settings.threads,
            bf16=self._settings.bf16,
            skip_fraction=(job.metadata or {}).get("skip_fraction", 0.0),
        ).write(run_dir)
        return run_dir

    async def _finish(self, job: FineTuningJob) -> str:
        """Record the model the job made (off the event loop) and serve it (on the loop, where
        the registry is used)."""
        base = self._base_card(job.model)
        tag = job.suffix or hashlib.sha256(job.workspace_id.encode()).hexdigest()[:8]
        model_id = f"ft:{base.id}:{tag}:{utcnow():%Y%m%d}:{job.id[:8]}"
        adapter, blob = self._work_dir / job.id / ADAPTER_FILE, None
        if self._shared is not None:  # every process serves it: up, and kept as their copy
            blob = await self._shared.upload(adapter)
            copy = self.served.adapter_copy(blob)
            await asyncio.to_thread(copy.parent.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(adapter.replace, copy)
            adapter = copy
        model = FineTunedModel(
            id=model_id,
            workspace_id=job.workspace_id,
            job_id=job.id,
            root=base.id,
            base_path=str(base.gguf_path()),
            adapter_path=str(adapter),
            adapter_blob=blob,
            created_at=utcnow(),
        )
        await asyncio.to_thread(self.models.add, model)
        if await asyncio.to_thread(self.served.servable, model):
            self.served.serve(model)
        return model_id

    # Helpers

    def _base_card(self, name: str) -> ModelCard:
        card = self._registry.resolve(name).card
        if card.kind != "chat" or card.adapter is not None:
            raise InvalidRequest(
                f"Model {name} cannot be fine-tuned: only base chat models can", param="model"
            )
        return card

    def _read(self, workspace_id: str, key_id: str | None, request: JobRequest) -> tuple[int, int]:
        """(valid training examples, characters of their messages); raises on bad data. Reads
        copies made for the purpose and deleted at once."""
        if not request.training_files:
            raise InvalidRequest("A job needs at least one training file", param="training_files")
        examples, characters = 0, 0
        with tempfile.TemporaryDirectory(prefix="autan-ft-") as tmp:
            for f in request.training_files:
                dataset = Dataset.read(
                    self._files.copy(f.file_id, workspace_id, key_id, Path(tmp)),
                    min_examples=self._settings.min_examples,
                    skip_fraction=request.skip_fraction,
                )
                examples += len(dataset.conversations)
                characters += sum(c.characters for c in dataset.conversations)
            for file_id in request.validation_files:
                Dataset.read(self._files.copy(file_id, workspace_id, key_id, Path(tmp)))
        return examples, characters

    def _defaults(self) -> dict[str, Any]:
        return {
            "weight_decay": 0.1,
            "warmup_fraction": 0.05,
            "seq_len": self._settings.seq_len,
        }

    def _steps(self, hyperparameters: dict[str, Any], examples: int) -> tuple[int, float]:
        """(training_steps, epochs): the steps asked for, else the epochs asked for (or the
        default epochs) over the examples."""
        per_epoch = examples / self._settings.batch_size
        steps = hyperparameters.get("training_steps")
        if steps is None:
            epochs = hyperparameters.get("epochs") or self._settings.default_epochs
            steps = max(1, math.ceil(epochs * per_epoch))
        steps = min(int(steps), self._settings.max_training_steps)
        return steps, round(steps / per_epoch, 3)
