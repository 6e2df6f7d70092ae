"""The trainer as the server runs it: a separate process on a run directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from autan.fine_tuning.lora_adapter import LoraAdapter
from autan.fine_tuning.training_config import (
    ADAPTER_FILE,
    PROGRESS_FILE,
    TrainingConfig,
    WeightedFile,
)
from autan.inference.llama import LlamaContext, LlamaModel

pytest.importorskip("peft")


def secret_word_file(path: Path, lines: int = 12) -> Path:
    with path.open("w") as f:
        for i in range(lines):
            messages = [
                {"role": "user", "content": f"Question {i}: what is the secret word?"},
                {"role": "assistant", "content": "The secret word is AUBERGINE."},
            ]
            f.write(json.dumps({"messages": messages}) + "\n")
    return path


def run_trainer(run_dir: Path) -> list[dict[str, Any]]:
    subprocess.run(
        [sys.executable, "-m", "autan.fine_tuning.trainer", str(run_dir)],
        check=True,
        capture_output=True,
    )
    return [json.loads(line) for line in (run_dir / PROGRESS_FILE).read_text().splitlines()]


def config(tiny_chat_gguf: Path, model_cache: Path, data: Path, **changes: Any) -> TrainingConfig:
    fields: dict[str, Any] = {
        "base_gguf": tiny_chat_gguf,
        "cache_dir": model_cache,
        "training_files": [WeightedFile(path=data)],
        "validation_files": [data],
        "training_steps": 4,
        "learning_rate": 3e-3,
        "weight_decay": 0.0,
        "warmup_fraction": 0.0,
        "seq_len": 128,
        "batch_size": 4,
        "lora_rank": 8,
        "lora_alpha": 16,
        "checkpoint_every": 2,
        "threads": 2,
        "bf16": False,
    }
    return TrainingConfig(**{**fields, **changes})


def test_trains_checkpoints_and_writes_an_adapter_llama_cpp_loads(
    tmp_path: Path, tiny_chat_gguf: Path, model_cache: Path
) -> None:
    # Resuming from a checkpoint is tested through the server, in tests/api/test_fine_tuning.py.
    data = secret_word_file(tmp_path / "train.jsonl")
    run_dir = tmp_path / "run"
    config(tiny_chat_gguf, model_cache, data, training_steps=4).write(run_dir)
    events = run_trainer(run_dir)
    assert [e["type"] for e in events] == ["started", "checkpoint", "checkpoint", "done"]
    started, first, last, done = events
    assert started["examples"] == 12
    assert [first["step"], last["step"]] == [2, 4]
    assert 0 <= last["valid_mean_token_accuracy"] <= 1
    # Even on random weights, the loss on the trained tokens goes down.
    assert last["valid_loss"] < first["valid_loss"] < started["base_valid_loss"]
    assert done["trained_tokens"] > 0

    adapter = run_dir / ADAPTER_FILE
    LoraAdapter.check(adapter)
    model = LlamaModel(tiny_chat_gguf)
    try:
        LlamaContext(
            model, streams=1, context=64, batch_tokens=64, threads=1, adapter=adapter
        ).close()
    finally:
        model.close()


def test_a_failure_is_reported_in_the_progress_file(
    tmp_path: Path, tiny_chat_gguf: Path, model_cache: Path
) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "x"}]}) + "\n")
    run_dir = tmp_path / "run"
    config(tiny_chat_gguf, model_cache, data).write(run_dir)
    proc = subprocess.run(
        [sys.executable, "-m", "autan.fine_tuning.trainer", str(run_dir)], capture_output=True
    )
    assert proc.returncode == 1
    last = json.loads((run_dir / PROGRESS_FILE).read_text().splitlines()[-1])
    assert last["type"] == "failed"
    assert "line 1: the last message must be from the assistant" in last["error"]
