"""A real fine-tuning job on the packaged SmolLM2-135M-Instruct, through ``autan serve`` and the
mistralai SDK, measured.

    .venv/bin/python -m benchmarks.fine_tuning [--steps 20] [--learning-rate 1e-4]

Starts ``autan serve --no-auth`` on a fresh data directory holding the two files of
``benchmarks/data/fine_tuning`` (40 capital-city questions answered as
``{"country": ..., "capital": ...}`` to train on, 10 other countries held out), runs the job the
way the Mistral docs do (``auto_start``, then ``jobs.get`` until it ends), and reports: the loss
on the held-out examples before (the base model) and after, token accuracy, the time from
creating the job to SUCCESS, the trainer's peak memory, and the greedy answers of the base and
the fine-tuned model to held-out questions.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from mistralai import Mistral

from tests.server import start_server, stop_server

DATA = Path(__file__).resolve().parent / "data" / "fine_tuning"
HELD_OUT = [
    "What is the capital of Portugal?",
    "Name the capital of Iceland.",
    "Which city is the capital of Brazil?",
]
FINISHED = ("SUCCESS", "FAILED", "FAILED_VALIDATION", "CANCELLED")


def _is_format(text: str) -> bool:
    try:
        reply = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(reply, dict) and set(reply) == {"country", "capital"}


def _answer(client: Mistral, model: str, question: str) -> str:
    reply = client.chat.complete(
        model=model,
        messages=[{"role": "user", "content": question}],
        temperature=0,
        max_tokens=48,
    )
    return str(reply.choices[0].message.content)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        (data_dir / "training-files").mkdir()
        for name in ("capitals-train", "capitals-valid"):
            shutil.copy(DATA / f"{name}.jsonl", data_dir / "training-files" / f"{name}.jsonl")
        proc, server = start_server(
            "--data-dir",
            str(data_dir),
            "--no-embeddings",
            "--parallel",
            "2",
            env={
                # Dequantize the base once per machine, not once per benchmark run.
                "AUTAN_FINE_TUNING__MODEL_CACHE_DIR": str(
                    Path.home() / ".cache" / "autan-fine-tuning"
                ),
            },
        )
        try:
            client = Mistral(api_key="any", server_url=server.url, timeout_ms=600_000)
            started = time.perf_counter()
            job: Any = client.fine_tuning.jobs.create(
                model="smollm2-135m-instruct",
                training_files=[{"file_id": "capitals-train", "weight": 1}],
                validation_files=["capitals-valid"],
                hyperparameters={"training_steps": args.steps, "learning_rate": args.learning_rate},
                auto_start=True,
            )
            while (job := client.fine_tuning.jobs.get(job_id=job.id)).status not in FINISHED:
                time.sleep(2)
            seconds = time.perf_counter() - started
            events = {e.name: e.data for e in job.events or []}
            trainer_log = (data_dir / "fine_tuning" / job.id / "progress.jsonl").read_text()
            print(f"status {job.status} after {seconds:.0f} s; model {job.fine_tuned_model}")
            print("base model valid_loss", events["training-started"]["base_valid_loss"])
            for c in reversed(job.checkpoints or []):
                print(f"step {c.step_number}: {c.metrics.model_dump()}")
            if job.status != "SUCCESS":
                print(trainer_log)
                return
            steps = [json.loads(line) for line in trainer_log.splitlines()]
            train_start = next(s["time"] for s in steps if s["type"] == "started")
            done = next(s for s in steps if s["type"] == "done")
            print(f"training steps {done['time'] - train_start:.0f} s (after the model load)")
            print(f"trainer peak RSS {done['peak_rss_mib']} MiB")
            hits = {"base": 0, "fine-tuned": 0}
            for question in HELD_OUT:
                print("Q:", question)
                for label, model in (
                    ("base", "smollm2-135m-instruct"),
                    ("fine-tuned", job.fine_tuned_model),
                ):
                    text = _answer(client, model, question)
                    hits[label] += _is_format(text)
                    print(f"  {label:>10}: {text}")
            print("answers in the trained JSON format:", hits, "of", len(HELD_OUT))
        finally:
            stop_server(proc)


if __name__ == "__main__":
    main()
