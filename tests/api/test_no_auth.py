"""``--no-auth``: no keys, and everything works in one local workspace, files and batch jobs
included (they are kept in the server's database, opened without accounts)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from autan.accounts.workspace import LOCAL_WORKSPACE
from autan.api.app import create_app
from autan.platform import Platform
from autan.settings import FineTuningSettings, JobsSettings, Settings
from autan.storage.database import Database
from autan.storage.job_tables import FileRow
from tests.fakes import fake_engine, fake_registry

LINES = b"".join(
    json.dumps(
        {
            "custom_id": f"line-{i}",
            "body": {"max_tokens": 4, "messages": [{"role": "user", "content": f"Hi {i}"}]},
        }
    ).encode()
    + b"\n"
    for i in range(3)
)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[TestClient, Database]]:
    """An app as ``autan serve --no-auth`` assembles it, and its database."""
    engine, _ = fake_engine(b"Hello")
    settings = Settings(
        data_dir=tmp_path,
        no_auth=True,
        jobs=JobsSettings(poll_seconds=0.02),
        fine_tuning=FineTuningSettings(enabled=False),
    )
    opened: list[Platform] = []

    def open_platform() -> Platform:
        opened.append(Platform.open(settings, fake_registry(engine)))
        return opened[-1]

    with TestClient(create_app(open_platform)) as client:
        assert opened[0].own_database is not None
        yield client, opened[0].own_database


def test_files_and_batch_jobs_work_without_keys(local: tuple[TestClient, Database]) -> None:
    client, db = local
    r = client.post(
        "/v1/files",
        files={"file": ("lines.jsonl", LINES, "application/jsonl")},
        data={"purpose": "batch"},
    )
    assert r.status_code == 200, r.text
    file_id = r.json()["id"]
    assert [f["id"] for f in client.get("/v1/files").json()["data"]] == [file_id]
    with db.session() as session:
        assert session.get_one(FileRow, file_id).workspace_id == LOCAL_WORKSPACE

    r = client.post(
        "/v1/batch/jobs",
        json={"input_files": [file_id], "endpoint": "/v1/chat/completions", "model": "fake-model"},
    )
    assert r.status_code == 200, r.text
    job_id = r.json()["id"]
    listed = client.get("/v1/batch/jobs")
    assert listed.status_code == 200, listed.text
    assert [j["id"] for j in listed.json()["data"]] == [job_id]
    mine = client.get("/v1/batch/jobs", params={"created_by_me": True})
    assert [j["id"] for j in mine.json()["data"]] == [job_id]

    for _ in range(500):  # the job runs in the app, on the fake engine: a few steps
        job = client.get(f"/v1/batch/jobs/{job_id}").json()
        if job["status"] not in ("QUEUED", "RUNNING"):
            break
        time.sleep(0.02)
    assert (job["status"], job["succeeded_requests"]) == ("SUCCESS", 3), job
    output = client.get(f"/v1/files/{job['output_file']}/content")
    assert output.status_code == 200
    assert len(output.text.splitlines()) == 3
