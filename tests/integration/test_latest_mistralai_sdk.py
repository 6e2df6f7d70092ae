"""The newest ``mistralai`` release, installed in its own virtualenv by ``make test``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.server import ROOT, Server

pytestmark = pytest.mark.model

LATEST_PYTHON = ROOT / ".venv-sdk-latest" / "bin" / "python"
SCRIPT = Path(__file__).parent / "scripts" / "latest_sdk_client.py"


def test_newest_sdk_completes_streams_and_lists(server: Server) -> None:
    if not LATEST_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{LATEST_PYTHON} is missing: `make test` creates it")
        pytest.skip(f"{LATEST_PYTHON} is missing: run `make dev` to create it")
    out = subprocess.run(
        [str(LATEST_PYTHON), str(SCRIPT), server.url],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert int(str(report["version"]).split(".")[0]) >= 2
    complete = report["complete"]
    assert complete["content"] and complete["finish_reason"] in ("stop", "length")
    p, c, t = complete["usage"]
    assert p > 0 and 0 < c <= 16 and t == p + c
    stream = report["stream"]
    assert stream["text"] == complete["content"]
    assert stream["first_role"] == "assistant"
    assert stream["last_finish"] in ("stop", "length") and stream["last_usage"] > 0
    assert report["async"]
    assert report["prefix"].startswith("My colour is")
    assert report["embeddings"][:2] == [32, 32] and report["embeddings"][2] > 4
    assert report["models"][0][0] == "smollm2-135m-instruct"
    assert "open-mistral-7b" in report["models"][0][1]
    assert report["error"][1] == 404
