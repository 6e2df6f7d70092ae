"""``autan batch`` against a real server, through to the results file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autan.cli.main import app
from tests.server import Server

pytestmark = pytest.mark.model

runner = CliRunner()


def test_create_wait_list_show_results(server: Server, tmp_path: Path) -> None:
    url = ("--url", server.url)
    requests = tmp_path / "requests.jsonl"
    requests.write_text(
        "".join(
            json.dumps({"custom_id": str(i), "body": {
                "messages": [{"role": "user", "content": f"Count to {i}."}], "max_tokens": 4,
            }}) + "\n"
            for i in range(3)
        )
    )  # fmt: skip
    created = runner.invoke(
        app, ["batch", "create", str(requests), "--model", server.model, "--wait",
              "--metadata", "run=ci", *url],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    job_id = created.stdout.split("created batch job ")[1].split()[0]
    assert f"{job_id}: SUCCESS, 3 succeeded, 0 failed of 3; results in file" in created.stdout
    assert "3/3" in created.stderr  # the progress bar

    listed = runner.invoke(app, ["batch", "list", "--status", "SUCCESS", *url])
    assert job_id in listed.stdout and "3/3" in listed.stdout
    shown = json.loads(runner.invoke(app, ["batch", "show", job_id, *url]).stdout)
    assert shown["metadata"] == {"run": "ci"} and shown["status"] == "SUCCESS"

    out = tmp_path / "results.jsonl"
    assert runner.invoke(app, ["batch", "results", job_id, "-o", str(out), *url]).exit_code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(line["custom_id"] for line in lines) == ["0", "1", "2"]
    assert all(line["response"]["status_code"] == 200 for line in lines)

    no_errors = runner.invoke(app, ["batch", "results", job_id, "--errors", *url])
    assert no_errors.exit_code == 1
    assert no_errors.output.strip() == f"error: job {job_id} (SUCCESS) has no error file yet"
    ended = runner.invoke(app, ["batch", "cancel", job_id, *url])
    assert ended.exit_code in (0, 1)  # an ended job stays as it is, or the server says so
    bad = runner.invoke(app, ["batch", "create", "file-nope", "--model", server.model, *url])
    assert bad.exit_code == 1 and bad.output.startswith(f"error: {server.url} answered 4")
