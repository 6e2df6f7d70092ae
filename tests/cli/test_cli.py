"""The ``autan`` command against the real server and the real packaged model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autan.cli.main import app
from tests.server import ROOT, Server

pytestmark = pytest.mark.model

runner = CliRunner()


def test_models_list_shows_the_model_and_its_aliases(server: Server) -> None:
    result = runner.invoke(app, ["models", "list", "--url", server.url])
    assert result.exit_code == 0, result.output
    assert "smollm2-135m-instruct" in result.output
    assert "mistral-small-latest" in result.output


def test_models_list_says_when_no_server_answers() -> None:
    result = runner.invoke(app, ["models", "list", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "Is `autan serve` running?" in result.output


def _chat(*args: str, typed: str) -> subprocess.CompletedProcess[str]:
    """``autan chat`` in a subprocess, with ``typed`` as what the user types."""
    out = subprocess.run(
        [sys.executable, "-m", "autan.cli.main", "chat", *args],
        input=typed,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out


def test_chat_against_a_running_server_streams_a_reply(server: Server) -> None:
    out = _chat("--url", server.url, "--max-tokens", "20", typed="Say hi.\n/bye\n")
    assert out.stdout.startswith(f"autan chat · smollm2-135m-instruct · {server.url}")
    reply = out.stdout.split(">>> ")[1]
    assert reply.strip(), out.stdout


def test_chat_in_process_loads_the_packaged_model() -> None:
    out = _chat("--threads", "2", "--max-tokens", "20", typed="Say hi.\n")
    assert "autan chat · smollm2-135m-instruct · in this process" in out.stdout
    assert len(out.stdout.split(">>> ")[1].strip()) > 2


def test_chat_in_process_with_a_models_file_defaults_to_its_first_model(tmp_path: Path) -> None:
    file = tmp_path / "models.toml"
    file.write_text('[[models]]\nid = "tiny"\npackaged = "smollm2-135m-instruct"\n')
    out = _chat("--models-file", str(file), "--max-tokens", "5", typed="/model\n/bye\n")
    assert "autan chat · tiny · in this process" in out.stdout
    assert "available: tiny" in out.stdout


def test_serve_help_lists_the_flags() -> None:
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in (
        "--host",
        "--port",
        "--model",
        "--models-file",
        "--max-loaded-memory",
        "--parallel",
        "--threads",
        "--log-level",
        "--log-format",
    ):
        assert flag in result.output


def test_serve_refuses_a_bad_budget_and_a_broken_models_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--max-loaded-memory", "lots"])
    assert result.exit_code == 2
    said = " ".join(result.output.replace("│", " ").split())  # rich wraps the message in a box
    assert "'lots' is not a size; write it like 8GiB" in said
    broken = tmp_path / "models.toml"
    broken.write_text('[[models]]\nid = "a"\npath = "nope.gguf"\n')
    result = runner.invoke(app, ["serve", "--models-file", str(broken)])
    assert result.exit_code == 1
    assert f"error: {broken}: model 'a': no GGUF file at {tmp_path / 'nope.gguf'}" in result.output
