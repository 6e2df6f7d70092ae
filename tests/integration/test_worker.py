"""``autan serve --no-jobs`` beside ``autan worker`` processes on one PostgreSQL and Redis: the
batch job created through the server runs on a worker; a worker killed (SIGKILL) in the middle
of it is replaced by another; one stopped (SIGTERM) exits 0 and hands the job back at once; the
last ends it with every line answered, and billed, exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from mistralai import Mistral
from sqlalchemy import create_engine, func, select

from autan.storage.job_tables import JobRow
from autan.storage.tables import UsageRow
from tests.databases import REDIS_URL, fresh_postgres, redis_prefix
from tests.integration.batch_input import counting_lines
from tests.server import start_server, start_worker, stop_server

pytestmark = pytest.mark.model

LINES = 24
MODEL = "smollm2-135m-instruct"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from fresh_postgres()


@pytest.fixture
def prefix() -> Iterator[str]:
    yield from redis_prefix()


def _batch_input() -> bytes:
    return counting_lines(LINES)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def _lease_owner(url: str, job_id: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(JobRow.lease_owner).where(JobRow.id == job_id))
    finally:
        engine.dispose()


def test_batch_created_on_a_server_runs_on_workers_exactly_once(
    tmp_path: Path, postgres_url: str, prefix: str
) -> None:
    env = {
        "AUTAN_DATABASE_URL": postgres_url,
        "AUTAN_REDIS_URL": REDIS_URL,
        "AUTAN_ACCOUNTS__REDIS_PREFIX": prefix,
        # A short lease, so the second worker takes the dead one's job over quickly.
        "AUTAN_JOBS__LEASE_SECONDS": "2",
        "AUTAN_JOBS__POLL_SECONDS": "0.2",
    }
    args = ("--data-dir", str(tmp_path), "--ctx-size", "512", "--no-embeddings")
    server_proc, server = start_server(*args, "--no-jobs", auth=True, env=env)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        key = (tmp_path / "admin_key").read_text().strip()
        client = Mistral(api_key=key, server_url=server.url)
        file = client.files.upload(
            file={"file_name": "count.jsonl", "content": _batch_input()}, purpose="batch"
        )
        job = client.batch.jobs.create(
            input_files=[file.id], endpoint="/v1/chat/completions", model=MODEL
        )
        time.sleep(1.5)  # several polls: a server started with --no-jobs leaves it alone
        assert client.batch.jobs.get(job_id=job.id).status == "QUEUED"

        workers.append(start_worker(*args, env=env))
        for _ in range(3000):
            job = client.batch.jobs.get(job_id=job.id)
            if job.completed_requests >= 3:
                break
            time.sleep(0.05)
        workers[0].kill()  # SIGKILL: the job stays RUNNING under a lease nobody renews
        workers[0].wait()
        job = client.batch.jobs.get(job_id=job.id)
        assert job.status == "RUNNING" and 3 <= job.completed_requests < LINES, job

        # SIGTERM: the second worker hands the job back at once. Its lease is ten minutes: only
        # a lease let go lets the third worker finish the job within this test's waits.
        workers.append(start_worker(*args, env={**env, "AUTAN_JOBS__LEASE_SECONDS": "600"}))
        answered = job.completed_requests
        for _ in range(3000):
            job = client.batch.jobs.get(job_id=job.id)
            if job.completed_requests >= answered + 2:
                break
            time.sleep(0.05)
        assert _stop(workers[1]) == 0
        job = client.batch.jobs.get(job_id=job.id)
        assert job.status == "RUNNING" and job.completed_requests < LINES, job
        assert _lease_owner(postgres_url, job.id) is None

        handed_back = time.monotonic()
        workers.append(start_worker(*args, env=env))
        for _ in range(3000):
            job = client.batch.jobs.get(job_id=job.id)
            if job.status not in ("QUEUED", "RUNNING"):
                break
            time.sleep(0.1)
        assert time.monotonic() - handed_back < 300  # well within the second worker's lease
        assert job.status == "SUCCESS", job
        assert (job.succeeded_requests, job.failed_requests) == (LINES, 0)
        assert job.output_file is not None
        lines = [
            json.loads(line)
            for line in client.files.download(file_id=job.output_file).read().splitlines()
        ]
        assert _stop(workers[2]) == 0
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stop_server(server_proc)
    ids = Counter(line["custom_id"] for line in lines)
    assert ids == Counter(f"line-{i}" for i in range(LINES))
    assert all(line["response"]["status_code"] == 200 for line in lines)
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            billed = conn.scalar(select(func.count()).where(UsageRow.batch))
    finally:
        engine.dispose()
    assert billed == LINES
