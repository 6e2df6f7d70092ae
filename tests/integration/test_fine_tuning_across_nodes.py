"""Fine-tuning on a platform of several processes, each with a data directory of its own (as
on several machines), on one PostgreSQL and one Redis: two ``autan serve --no-jobs`` and
``autan worker`` processes, all serving the tiny SmolLM2-vocabulary model.

A job created on one server trains on a worker; that worker is killed (SIGKILL) mid-training;
a second worker takes the job over when its lease runs out and resumes it from the last
checkpoint, fetched from the shared store. Then both servers, neither of which trained it,
fetch the adapter and chat with the fine-tuned model; a model archived and deleted through
one server is archived, then gone, on the other; no blob outlives its use."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from autan.storage.blob_tables import BlobRow
from autan.storage.job_tables import JobRow
from tests.databases import REDIS_URL, fresh_postgres, redis_prefix
from tests.fine_tuning.test_trainer import secret_word_file
from tests.server import start_server, start_worker, stop_server

pytestmark = pytest.mark.model

STEPS = 120
CHECKPOINTS = 12  # one every 10 steps
ENDED = ("SUCCESS", "FAILED", "CANCELLED")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from fresh_postgres()


@pytest.fixture
def prefix() -> Iterator[str]:
    yield from redis_prefix()


def _database(url: str, query: Any) -> Any:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(query).scalar()
    finally:
        engine.dispose()


def _blob_keys(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(BlobRow.key)))
    finally:
        engine.dispose()


def _until(what: str, check: Any, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.timeout(900)  # four processes and two trainers on two shared cores
def test_a_job_taken_over_after_a_kill_makes_a_model_every_server_serves(
    tmp_path: Path,
    postgres_url: str,
    prefix: str,
    tiny_chat_gguf: Path,
    model_cache: Path,
) -> None:
    env = {
        "AUTAN_DATABASE_URL": postgres_url,
        "AUTAN_REDIS_URL": REDIS_URL,
        "AUTAN_ACCOUNTS__REDIS_PREFIX": prefix,
        # A short lease, so the second worker takes the dead one's job over quickly.
        "AUTAN_JOBS__LEASE_SECONDS": "2",
        "AUTAN_JOBS__POLL_SECONDS": "0.2",
        "AUTAN_FINE_TUNING__POLL_SECONDS": "0.1",
        "AUTAN_FINE_TUNING__MODELS_SYNC_SECONDS": "0.5",
        "AUTAN_FINE_TUNING__THREADS": "1",
        "AUTAN_FINE_TUNING__LORA_RANK": "8",
        "AUTAN_FINE_TUNING__LORA_ALPHA": "16",
        "AUTAN_FINE_TUNING__SEQ_LEN": "128",
        "AUTAN_FINE_TUNING__CHECKPOINTS": str(CHECKPOINTS),
        "AUTAN_FINE_TUNING__MODEL_CACHE_DIR": str(model_cache),
    }
    common = ("--model", str(tiny_chat_gguf), "--ctx-size", "256", "--no-embeddings")
    servers: list[subprocess.Popen[bytes]] = []
    workers: list[subprocess.Popen[bytes]] = []
    http = httpx.Client(timeout=60)
    try:
        proc_a, a = start_server(
            "--data-dir", str(tmp_path / "a"), *common, "--no-jobs", auth=True, env=env
        )
        servers.append(proc_a)
        proc_b, b = start_server(
            "--data-dir", str(tmp_path / "b"), *common, "--no-jobs", auth=True, env=env
        )
        servers.append(proc_b)
        admin = (tmp_path / "a" / "admin_key").read_text().strip()
        http.headers["Authorization"] = f"Bearer {admin}"
        base = http.get(f"{a.url}/v1/models").json()["data"][0]["id"]  # the tiny model

        data = secret_word_file(tmp_path / "train.jsonl")
        uploaded = http.post(
            f"{a.url}/v1/files",
            files={"file": (data.name, data.read_bytes(), "application/jsonl")},
            data={"purpose": "fine-tune"},
        )
        assert uploaded.status_code == 200, uploaded.text
        created = http.post(
            f"{a.url}/v1/fine_tuning/jobs",
            json={
                "model": base,
                "training_files": [{"file_id": uploaded.json()["id"], "weight": 1}],
                "hyperparameters": {"training_steps": STEPS, "learning_rate": 3e-3},
                "auto_start": True,
            },
        )
        assert created.status_code == 200, created.text
        job_id = created.json()["id"]

        def job() -> dict[str, Any]:
            got: dict[str, Any] = http.get(f"{b.url}/v1/fine_tuning/jobs/{job_id}").json()
            return got

        first = start_worker("--data-dir", str(tmp_path / "w1"), *common, env=env)
        workers.append(first)
        # A checkpoint is recorded once its state is in the shared store.
        _until("a checkpoint", lambda: job()["checkpoints"])
        first.kill()  # SIGKILL: its trainer dies with it, the job stays RUNNING
        first.wait()
        killed = job()
        assert killed["status"] == "RUNNING", killed
        last = max(c["step_number"] for c in killed["checkpoints"])
        assert last < STEPS, "the kill came after the training ended: make it longer"

        second = start_worker("--data-dir", str(tmp_path / "w2"), *common, env=env)
        workers.append(second)
        done = _until(
            "the job's end", lambda: (j := job())["status"] in ("SUCCESS", "FAILED") and j
        )
        assert done["status"] == "SUCCESS", done
        names = [e["name"] for e in reversed(done["events"])]
        assert "resumed" in names and "training-restarted" not in names
        resumed = [e["data"]["step"] for e in done["events"] if e["name"] == "training-resumed"]
        assert resumed and min(resumed) >= last  # from the shared checkpoint, not from 0
        steps = sorted(c["step_number"] for c in done["checkpoints"])
        assert steps == list(range(STEPS // CHECKPOINTS, STEPS + 1, STEPS // CHECKPOINTS))
        # The checkpoint's blob went with the job's end: the training file and the adapter.
        assert "checkpoint_state" not in _database(
            postgres_url, select(JobRow.result).where(JobRow.id == job_id)
        )
        assert len(keys := _blob_keys(postgres_url)) == 2, keys

        model = done["fine_tuned_model"]
        for server, data_dir in ((a, "a"), (b, "b")):
            _until(
                f"{model} on {data_dir}",
                lambda s=server: http.get(f"{s.url}/v1/models/{model}").status_code == 200,
                timeout=30,
            )
            reply = http.post(
                f"{server.url}/v1/chat/completions",
                json={
                    "model": model,
                    "messages": [{"role": "user", "content": "The secret word?"}],
                    "max_tokens": 4,
                },
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["model"] == model and reply.json()["usage"]["completion_tokens"]
            copies = list((tmp_path / data_dir / "fine_tuning" / "adapters").glob("*.gguf"))
            assert len(copies) == 1, copies  # fetched into its own data directory

        archived = http.post(f"{b.url}/v1/fine_tuning/models/{model}/archive")
        assert archived.status_code == 200, archived.text
        assert http.get(f"{a.url}/v1/models/{model}").json()["archived"] is True
        assert http.delete(f"{b.url}/v1/models/{model}").status_code == 200
        _until(
            f"{model} gone from a",
            lambda: http.get(f"{a.url}/v1/models/{model}").status_code == 404,
            timeout=30,
        )
        gone = http.post(
            f"{a.url}/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert gone.status_code == 404, gone.text
        assert not list((tmp_path / "a" / "fine_tuning" / "adapters").glob("*.gguf"))
        assert len(keys := _blob_keys(postgres_url)) == 1, keys
    finally:
        http.close()
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for proc in servers:
            stop_server(proc)
