"""What one trainer process is asked to do, written as JSON into its run directory.

The server writes it and the trainer (``python -m autan.fine_tuning.trainer <run_dir>``) reads it,
so the two never share memory: a trainer that crashes or is killed takes nothing else down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

CONFIG_FILE = "config.json"
PROGRESS_FILE = "progress.jsonl"  # one JSON object per line, appended by the trainer
STATE_FILE = "state.pt"  # LoRA weights + optimizer at the last checkpoint, for resuming
ADAPTER_FILE = "adapter.gguf"
LOG_FILE = "trainer.log"
DATA_DIR = "data"  # the job's copies of its training and validation files
# The pid of the server that starts a trainer, in the trainer's environment: it dies with it.
PARENT_PID_ENV = "AUTAN_TRAINER_PARENT_PID"


class WeightedFile(BaseModel):
    path: Path
    weight: float = Field(default=1.0, gt=0)


class TrainingConfig(BaseModel):
    """Hyperparameters resolved by the server (defaults applied), and where everything is."""

    model_config = ConfigDict(extra="forbid")

    base_gguf: Path
    cache_dir: Path = Field(description="dequantized base models, one directory per GGUF")
    training_files: list[WeightedFile]
    validation_files: list[Path] = Field(default_factory=list)
    training_steps: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    warmup_fraction: float = Field(ge=0, le=1)
    seq_len: int = Field(ge=16)
    batch_size: int = Field(ge=1)
    lora_rank: int = Field(ge=1)
    lora_alpha: float = Field(gt=0)
    checkpoint_every: int = Field(ge=1)
    threads: int = Field(ge=1)
    bf16: bool = False
    seed: int = 0
    skip_fraction: float = Field(default=0.0, ge=0, le=0.5)

    def write(self, run_dir: Path) -> Path:
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / CONFIG_FILE
        path.write_text(self.model_dump_json(indent=2))
        return path

    @classmethod
    def read(cls, run_dir: Path) -> TrainingConfig:
        return cls.model_validate_json((run_dir / CONFIG_FILE).read_text())
