"""``autan serve`` binds its port before it prints or writes anything."""

from __future__ import annotations

import socket
from pathlib import Path

from typer.testing import CliRunner

from autan.cli.main import app

runner = CliRunner()


def test_a_port_in_use_is_one_clear_line_and_no_admin_key_is_made(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(
            app, ["serve", "--port", str(port), "--data-dir", str(tmp_path / "data")]
        )
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: port {port} on 127.0.0.1 is in use (another autan serve?): stop it or pick "
        "another with --port"
    )
    assert "listening" not in result.output
    assert not (tmp_path / "data").exists()


def test_the_banner_curl_carries_the_key_file_and_names_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.server import ROOT

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "autan.cli.main", "serve", "--port", str(port),
         "--data-dir", str(data), "--no-embeddings", "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        # the admin key is made once the port is bound: its banner follows
        created = [proc.stdout.readline() for _ in range(2)]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert lines[0].startswith(f"autan listening on http://127.0.0.1:{port}  (models: ")
    assert "smollm2-135m-instruct (" in lines[0] and " MiB)" in lines[0]
    key_file = data / "admin_key"
    assert f'-H "Authorization: Bearer $(cat {key_file})"' in lines[1]
    assert f"the admin key is in {key_file}" in lines[2]
    assert f"also saved to {key_file}" in "".join(created)
