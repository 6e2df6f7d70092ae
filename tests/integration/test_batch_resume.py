"""Kill ``autan serve`` (SIGKILL) in the middle of a batch job, start it again: the job resumes
and ends with every line answered, and billed, exactly once."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from mistralai import Mistral
from sqlalchemy import create_engine, func, select

from autan.storage.tables import UsageRow
from tests.integration.batch_input import counting_lines
from tests.server import start_server, stop_server

pytestmark = pytest.mark.model

LINES = 24


# A short lease, so the restarted process takes the dead one's job over quickly.
ENV = {"AUTAN_JOBS__LEASE_SECONDS": "2", "AUTAN_JOBS__POLL_SECONDS": "0.2"}


def test_sigkill_mid_job_then_restart_answers_every_line_exactly_once(tmp_path: Path) -> None:
    args = ("--data-dir", str(tmp_path), "--ctx-size", "512", "--no-embeddings")
    proc, server = start_server(*args, auth=True, env=ENV)
    try:
        key = (tmp_path / "admin_key").read_text().strip()
        client = Mistral(api_key=key, server_url=server.url)
        content = counting_lines(LINES)
        file = client.files.upload(
            file={"file_name": "count.jsonl", "content": content}, purpose="batch"
        )
        job = client.batch.jobs.create(
            input_files=[file.id], endpoint="/v1/chat/completions", model="smollm2-135m-instruct"
        )
        for _ in range(1200):
            job = client.batch.jobs.get(job_id=job.id)
            if job.completed_requests >= 3:
                break
            time.sleep(0.05)
        proc.kill()  # SIGKILL: no shutdown handler runs
        proc.wait()
    except BaseException:
        stop_server(proc)
        raise
    assert job.status == "RUNNING" and 3 <= job.completed_requests < LINES, job

    proc, server = start_server(*args, auth=True, env=ENV)
    try:
        client = Mistral(api_key=key, server_url=server.url)
        for _ in range(3000):
            job = client.batch.jobs.get(job_id=job.id)
            if job.status not in ("QUEUED", "RUNNING"):
                break
            time.sleep(0.1)
        assert job.status == "SUCCESS", job
        assert (job.succeeded_requests, job.failed_requests) == (LINES, 0)
        assert job.output_file is not None and job.error_file is None
        lines = [
            json.loads(line)
            for line in client.files.download(file_id=job.output_file).read().splitlines()
        ]
    finally:
        stop_server(proc)
    ids = Counter(line["custom_id"] for line in lines)
    assert ids == Counter(f"line-{i}" for i in range(LINES))
    assert all(line["response"]["status_code"] == 200 for line in lines)
    engine = create_engine(f"sqlite:///{tmp_path / 'autan.db'}")
    try:
        with engine.connect() as conn:
            billed = conn.scalar(select(func.count()).where(UsageRow.batch))
    finally:
        engine.dispose()
    assert billed == LINES
