"""Two ``autan serve --no-jobs`` processes and one ``autan worker``, each with a data directory
of its own (as on three machines), on one PostgreSQL and one Redis, behave as one platform: a
key revoked through one is refused by the other at its next request; a file uploaded to one is
downloaded from the other, with a key or through a URL the first signed; a batch job created
on one runs on the worker; both are ready (database and Redis reachable)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mistralai import Mistral

from tests.databases import REDIS_URL, fresh_postgres, redis_prefix
from tests.server import start_server, start_worker, stop_server

pytestmark = pytest.mark.model

MODEL = "smollm2-135m-instruct"
LINES = 4


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from fresh_postgres()


@pytest.fixture
def prefix() -> Iterator[str]:
    yield from redis_prefix()


def test_two_servers_and_a_worker_on_one_database_are_one_platform(
    tmp_path: Path, postgres_url: str, prefix: str
) -> None:
    env = {
        "AUTAN_DATABASE_URL": postgres_url,
        "AUTAN_REDIS_URL": REDIS_URL,
        "AUTAN_ACCOUNTS__REDIS_PREFIX": prefix,
        "AUTAN_JOBS__POLL_SECONDS": "0.2",
    }
    common = ("--ctx-size", "512", "--no-embeddings")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        proc_a, a = start_server(
            "--data-dir", str(tmp_path / "a"), *common, "--no-jobs", auth=True, env=env
        )
        procs.append(proc_a)
        proc_b, b = start_server(
            "--data-dir", str(tmp_path / "b"), *common, "--no-jobs", auth=True, env=env
        )
        procs.append(proc_b)
        admin = (tmp_path / "a" / "admin_key").read_text().strip()
        assert not (tmp_path / "b" / "admin_key").exists()  # one admin key for the platform
        for server in (a, b):  # both reach the database and Redis
            ready = httpx.get(f"{server.url}/readyz", timeout=30)
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "models": "ok"}

        # A key made on A works on B; revoked on A, B refuses its next request.
        made = httpx.post(
            f"{a.url}/v1/admin/api-keys",
            headers={"Authorization": f"Bearer {admin}"},
            json={"name": "shared"},
            timeout=30,
        )
        assert made.status_code == 200, made.text
        key, key_id = made.json()["key"], made.json()["key_id"]
        as_key = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{b.url}/v1/models", headers=as_key, timeout=30).status_code == 200
        revoked = httpx.delete(
            f"{a.url}/v1/admin/api-keys/{key_id}",
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
        )
        assert revoked.status_code == 200, revoked.text
        refused = httpx.get(f"{b.url}/v1/models", headers=as_key, timeout=30)
        assert refused.status_code == 401, refused.text

        # A file uploaded to A is downloaded from B (B has no copy on its disk).
        client_a = Mistral(api_key=admin, server_url=a.url)
        client_b = Mistral(api_key=admin, server_url=b.url)
        content = b"".join(
            json.dumps(
                {
                    "custom_id": f"line-{i}",
                    "body": {
                        "max_tokens": 8,
                        "temperature": 0,
                        "messages": [{"role": "user", "content": f"Say {i}."}],
                    },
                }
            ).encode()
            + b"\n"
            for i in range(LINES)
        )
        file = client_a.files.upload(
            file={"file_name": "lines.jsonl", "content": content}, purpose="batch"
        )
        assert client_b.files.download(file_id=file.id).read() == content
        assert not any((tmp_path / "a").glob("files/*"))  # the bytes are in the database
        # A signed URL made by A is good on B: the signing secret is in the database too.
        signed = httpx.get(
            f"{a.url}/v1/files/{file.id}/url",
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
        )
        assert signed.status_code == 200, signed.text
        url = signed.json()["url"]
        assert url.startswith(a.url)
        assert httpx.get(b.url + url.removeprefix(a.url), timeout=30).content == content

        # A batch job created on A runs on the worker; B reads its output.
        job = client_a.batch.jobs.create(
            input_files=[file.id], endpoint="/v1/chat/completions", model=MODEL
        )
        procs.append(start_worker("--data-dir", str(tmp_path / "w"), *common, env=env))
        for _ in range(3000):
            job = client_b.batch.jobs.get(job_id=job.id)
            if job.status not in ("QUEUED", "RUNNING"):
                break
            time.sleep(0.1)
        assert job.status == "SUCCESS", job
        assert job.output_file is not None
        lines = client_b.files.download(file_id=job.output_file).read().splitlines()
        assert sorted(json.loads(line)["custom_id"] for line in lines) == [
            f"line-{i}" for i in range(LINES)
        ]
    finally:
        for proc in procs:
            stop_server(proc)
