"""A real fine-tuning run on the packaged SmolLM2-135M-Instruct, measured.

    .venv/bin/python -m benchmarks.fine_tuning [--steps 20] [--learning-rate 1e-4]

Trains a LoRA with the server's defaults on ``benchmarks/data/fine_tuning/capitals-train.jsonl``
(40 questions answered as ``{"country": ..., "capital": ...}``), then reports: the loss on the
10 held-out examples before and after, the wall time on this machine, and the greedy answers of
llama.cpp to held-out prompts with and without the adapter.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autan.fine_tuning.training_config import (
    ADAPTER_FILE,
    PROGRESS_FILE,
    TrainingConfig,
    WeightedFile,
)
from autan.inference.engine import LocalEngine
from autan.inference.llama import LlamaModel
from autan.inference.sampling import SamplingParams
from autan.models.packaged import packaged_model_path
from autan.settings import EngineSettings, FineTuningSettings

DATA = Path(__file__).resolve().parent / "data" / "fine_tuning"
HELD_OUT = ["What is the capital of Portugal?", "Name the capital of Iceland."]


def answer(gguf: Path, adapter: Path | None, question: str) -> str:
    import asyncio

    model = LlamaModel(gguf)
    engine = LocalEngine.load(
        model, EngineSettings(parallel=1, context_per_sequence=512), adapter=adapter
    )
    try:
        prompt = (
            f"<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            f"Face<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
        )
        ids = engine.tokenize(prompt, add_special=False, parse_special=True)

        async def run() -> str:
            out = b""
            async for _, o in engine.generate(
                ids, [SamplingParams(temperature=0.0, max_tokens=40)]
            ):
                out += o.text.encode() if hasattr(o, "text") else b""
            return out.decode()

        return asyncio.run(run())
    finally:
        engine.close()
        model.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    args = parser.parse_args()
    defaults = FineTuningSettings()
    gguf = packaged_model_path()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        TrainingConfig(
            base_gguf=gguf,
            cache_dir=Path.home() / ".cache" / "autan-fine-tuning",
            training_files=[WeightedFile(path=DATA / "capitals-train.jsonl")],
            validation_files=[DATA / "capitals-valid.jsonl"],
            training_steps=args.steps,
            learning_rate=args.learning_rate,
            weight_decay=0.1,
            warmup_fraction=0.05,
            seq_len=defaults.seq_len,
            batch_size=defaults.batch_size,
            lora_rank=defaults.lora_rank,
            lora_alpha=defaults.lora_alpha,
            checkpoint_every=max(1, args.steps // 4),
            threads=2,
        ).write(run_dir)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "autan.fine_tuning.trainer", str(run_dir)], check=True
        )
        seconds = time.perf_counter() - started
        peak_rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
        events = [json.loads(x) for x in (run_dir / PROGRESS_FILE).read_text().splitlines()]
        print(
            json.dumps(
                {"wall_seconds": round(seconds, 1), "peak_rss_mib": peak_rss_mib, "events": events},
                indent=1,
            )
        )
        for q in HELD_OUT:
            print("Q:", q)
            print("  base:      ", answer(gguf, None, q))
            print("  fine-tuned:", answer(gguf, run_dir / ADAPTER_FILE, q))


if __name__ == "__main__":
    main()
