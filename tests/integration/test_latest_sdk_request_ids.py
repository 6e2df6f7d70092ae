"""The newest ``mistralai`` release reads answers that carry request ids (error envelopes
with ``request_id``), and what it was told matches the request log."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from autan.accounts.audit_log import Actor
from autan.accounts.memory_limits import MemoryLimits
from autan.api.app import create_app
from autan.platform import Platform
from autan.settings import AccountsSettings, FineTuningSettings, Settings
from tests.fakes import fake_engine, fake_registry
from tests.integration.test_latest_mistralai_sdk import LATEST_PYTHON

SCRIPT = Path(__file__).parent / "scripts" / "latest_sdk_request_ids.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _served(tmp_path: Path) -> Iterator[tuple[str, Platform]]:
    engine, _ = fake_engine(b"Hello from autan!")
    settings = Settings(
        data_dir=tmp_path,
        accounts=AccountsSettings(usage_flush_seconds=0.05),
        fine_tuning=FineTuningSettings(enabled=False),
    )
    opened: list[Platform] = []

    def open_platform() -> Platform:
        opened.append(Platform.open(settings, fake_registry(engine), limits=MemoryLimits()))
        return opened[0]

    port = _free_port()
    config = uvicorn.Config(
        create_app(open_platform), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", opened[0]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_newest_sdk_reads_request_ids_and_the_log_has_them(tmp_path: Path) -> None:
    if not LATEST_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{LATEST_PYTHON} is missing: `make test` creates it")
        pytest.skip(f"{LATEST_PYTHON} is missing: run `make dev` to create it")
    for url, platform in _served(tmp_path):
        accounts = platform.accounts
        assert accounts is not None and platform.admin_secret is not None
        _, secret = accounts.keys.create(
            workspace_id=accounts.workspaces.default().id, actor=Actor.command_line()
        )
        out = subprocess.run(
            [str(LATEST_PYTHON), str(SCRIPT), url, secret],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout.strip().splitlines()[-1])
        assert report["content"]
        error = report["error"]
        assert error["status"] == 404 and error["body"]["code"] == "model_not_found"
        assert error["header"] == error["body"]["request_id"]
        found = httpx.post(
            f"{url}/v1/observability/chat-completion-events/search",
            json={
                "search_params": {
                    "filters": {"field": "correlation_id", "op": "eq", "value": error["header"]}
                }
            },
            headers={"Authorization": f"Bearer {platform.admin_secret}"},
        ).json()["completion_events"]["results"]
        (event,) = found
        assert event["extra_fields"]["status"] == 404
        assert event["extra_fields"]["error_code"] == "model_not_found"
