"""The smallest fine-tuning job and trainer configuration, for tests that need one to exist
rather than to train well."""

from __future__ import annotations

from pathlib import Path

from autan.fine_tuning.fine_tuning_job import FineTuningJob, TrainingFileRef
from autan.fine_tuning.fine_tuning_jobs import FineTuningJobs
from autan.fine_tuning.training_config import TrainingConfig, WeightedFile


def waiting_job(jobs: FineTuningJobs) -> FineTuningJob:
    """A QUEUED job on model ``tiny`` that waits for ``/start``."""
    return jobs.create(
        workspace_id="ws",
        key_id=None,
        model="tiny",
        hyperparameters={},
        training_files=[TrainingFileRef("f")],
        validation_files=[],
        suffix=None,
        auto_start=False,
    )


def one_step_config(tmp_path: Path, data: Path) -> TrainingConfig:
    """One step of rank 1 on ``data``; the base model is never read."""
    return TrainingConfig(
        base_gguf=tmp_path / "unused.gguf",
        cache_dir=tmp_path / "cache",
        training_files=[WeightedFile(path=data)],
        training_steps=1,
        learning_rate=1e-3,
        weight_decay=0.0,
        warmup_fraction=0.0,
        seq_len=64,
        batch_size=1,
        lora_rank=1,
        lora_alpha=1,
        checkpoint_every=1,
        threads=1,
    )
