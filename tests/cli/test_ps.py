"""``autan ps`` against a real server."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from autan.cli.main import app
from autan.cli.ps import size
from tests.server import Server

runner = CliRunner()


@pytest.mark.model
def test_ps_shows_the_loaded_model_and_the_embedding_model(server: Server) -> None:
    result = runner.invoke(app, ["ps", "--url", server.url])
    assert result.exit_code == 0, result.output
    header, row, *rest = result.stdout.splitlines()
    assert header.split() == [
        "model", "state", "memory", "context", "busy/slots", "queued", "requests",
    ]  # fmt: skip
    cells = row.split()
    assert cells[:2] == ["smollm2-135m-instruct", "loaded"] and cells[3] == "MiB"
    assert cells[4] == "2048" and cells[5] == "0/8" and cells[6] == "0"
    assert any(line.startswith("memory: ") and "allowed" in line for line in rest)
    assert "embeddings: all-minilm-l6-v2 (mistral-embed)" in rest


def test_ps_says_when_no_server_answers() -> None:
    result = runner.invoke(app, ["ps", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "Is `autan serve` running?" in result.output and len(result.output.splitlines()) == 1


def test_sizes_read_like_a_person_writes_them() -> None:
    assert [size(n) for n in (512, 2048, 169141312, 5 * 1024**3)] == [
        "512 B", "2.0 KiB", "161.3 MiB", "5.0 GiB",
    ]  # fmt: skip
