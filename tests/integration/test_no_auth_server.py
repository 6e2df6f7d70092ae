"""A real ``autan serve --no-auth``: files, batch jobs and fine-tuning jobs all answer, in one
local workspace, with no key; fine-tuning reads files uploaded through ``/v1/files``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.server import ROOT, start_server, stop_server

pytestmark = pytest.mark.model

TRAIN = ROOT / "benchmarks" / "data" / "fine_tuning" / "capitals-train.jsonl"


def test_files_batch_and_fine_tuning_work_without_keys(tmp_path: Path) -> None:
    args = ("--data-dir", str(tmp_path), "--ctx-size", "512", "--no-embeddings")
    proc, server = start_server(*args)
    try:
        line = {
            "custom_id": "a",
            "body": {"max_tokens": 2, "messages": [{"role": "user", "content": "Hi"}]},
        }
        with httpx.Client(base_url=server.v1, timeout=60) as client:
            r = client.post(
                "/files",
                files={"file": ("a.jsonl", json.dumps(line).encode() + b"\n")},
                data={"purpose": "batch"},
            )
            assert r.status_code == 200, r.text
            r = client.post(
                "/batch/jobs",
                json={
                    "input_files": [r.json()["id"]],
                    "endpoint": "/v1/chat/completions",
                    "model": server.model,
                },
            )
            assert r.status_code == 200, r.text
            listed = client.get("/batch/jobs")
            assert listed.status_code == 200, listed.text
            assert [j["id"] for j in listed.json()["data"]] == [r.json()["id"]]
            assert client.get("/files").status_code == 200
            assert client.get("/fine_tuning/jobs").status_code == 200
            # A training file uploaded through /v1/files is what fine-tuning reads.
            train = client.post(
                "/files",
                files={"file": ("train.jsonl", TRAIN.read_bytes())},
                data={"purpose": "fine-tune"},
            )
            assert train.status_code == 200, train.text
            dry = client.post(
                "/fine_tuning/jobs",
                params={"dry_run": True},
                json={
                    "model": server.model,
                    "training_files": [{"file_id": train.json()["id"]}],
                    "hyperparameters": {},
                },
            )
            assert dry.status_code == 200, dry.text
            assert dry.json()["cost_currency"] == "USD"
    finally:
        stop_server(proc)
