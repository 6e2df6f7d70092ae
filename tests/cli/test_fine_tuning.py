"""``autan fine-tuning`` against a real server: a short job followed to its end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autan.cli.fine_tuning import training_progress
from autan.cli.main import app
from tests.server import Server, start_server, stop_server

runner = CliRunner()


@pytest.fixture
def server() -> Iterator[Server]:
    """A server of its own: the fine-tuned model it makes must not show up in the shared one's
    model list."""
    proc, srv = start_server()
    try:
        yield srv
    finally:
        stop_server(proc)


@pytest.mark.model
def test_create_wait_list_show(server: Server, tmp_path: Path) -> None:
    url = ("--url", server.url)
    chats = tmp_path / "chats.jsonl"
    chats.write_text(
        "".join(
            json.dumps({"messages": [
                {"role": "user", "content": f"Say {i}."},
                {"role": "assistant", "content": f"{i}!"},
            ]}) + "\n"
            for i in range(12)
        )
    )  # fmt: skip
    created = runner.invoke(
        app, ["fine-tuning", "create", "--model", server.model, "--training-file", str(chats),
              "--steps", "2", "--wait", *url],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    job_id = created.stdout.split("created fine-tuning job ")[1].split()[0]
    assert f"{job_id}: SUCCESS, model ft:" in created.stdout
    assert "2/2 steps" in created.stderr and "loss " in created.stderr

    listed = runner.invoke(app, ["fine-tuning", "list", *url])
    assert job_id in listed.stdout and "SUCCESS" in listed.stdout
    shown = json.loads(runner.invoke(app, ["fine-tuning", "show", job_id, *url]).stdout)
    assert shown["checkpoints"] and shown["status"] == "SUCCESS"
    cancelled = runner.invoke(app, ["fine-tuning", "cancel", "nope", *url])
    assert cancelled.exit_code == 1 and "404" in cancelled.output


def test_time_left_is_measured_from_the_steps_done() -> None:
    job = {
        "hyperparameters": {"training_steps": 10},
        "events": [{"name": "training-started", "created_at": 100, "data": {"total_steps": 10}}],
        "checkpoints": [
            {"step_number": 4, "created_at": 140, "metrics": {"train_loss": 1.5}},
            {"step_number": 2, "created_at": 120, "metrics": {"train_loss": 2.0}},
        ],
    }
    # 10 s a step, 6 steps left, 5 s of them already gone
    assert training_progress(job, now=145) == (4, 10, "loss 1.500, about 55s left")
    waiting = {"hyperparameters": {"training_steps": 10}, "events": [], "checkpoints": [],
               "metadata": {"expected_duration_seconds": 600}}  # fmt: skip
    assert training_progress(waiting, now=0) == (0, 10, "server's estimate 10m in all")
