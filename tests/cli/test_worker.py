"""``autan worker``: starts without a port, stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autan.cli.main import app
from tests.server import ROOT

runner = CliRunner()


def test_a_broken_models_file_is_one_clear_line(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text("[[models]]\nid = 'x'\npath = 'missing.gguf'\n")
    result = runner.invoke(
        app, ["worker", "--models-file", str(models), "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 1
    assert result.output.startswith("error: ")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_an_idle_worker_with_status_0(tmp_path: Path, sig: signal.Signals) -> None:
    command = ["worker", "--data-dir", str(tmp_path), "--no-embeddings", "--log-level", "warning"]
    with subprocess.Popen(
        [sys.executable, "-m", "autan.cli.main", *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as proc:
        _stop_with(proc, sig, tmp_path)


def _stop_with(proc: subprocess.Popen[bytes], sig: signal.Signals, data_dir: Path) -> None:
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while not any(line.startswith("autan worker running jobs") for line in lines):
            assert time.monotonic() < deadline, lines
            line = proc.stdout.readline().decode()
            assert line, f"the worker exited: {lines}"
            lines.append(line)
        assert (data_dir / "admin_key").exists()  # the platform is open: its accounts too
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
        rest = proc.stdout.read().decode()
        assert "autan worker stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
