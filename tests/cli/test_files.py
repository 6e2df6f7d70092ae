"""``autan files`` against a real server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from autan.cli.main import app
from tests.server import Server

pytestmark = pytest.mark.model

runner = CliRunner()


def test_upload_list_download_delete(server: Server, tmp_path: Path) -> None:
    url = ("--url", server.url)
    source = tmp_path / "lines.jsonl"
    source.write_text('{"custom_id": "1", "body": {"messages": []}}\n')
    uploaded = runner.invoke(app, ["files", "upload", str(source), "--purpose", "batch", *url])
    assert uploaded.exit_code == 0, uploaded.output
    file_id, name, *_ = uploaded.stdout.split()
    assert name == "lines.jsonl"

    listed = runner.invoke(app, ["files", "list", "--purpose", "batch", *url])
    assert listed.exit_code == 0 and file_id in listed.stdout

    copy = tmp_path / "copy.jsonl"
    downloaded = runner.invoke(app, ["files", "download", file_id, "-o", str(copy), *url])
    assert downloaded.exit_code == 0, downloaded.output
    assert copy.read_bytes() == source.read_bytes()

    assert runner.invoke(app, ["files", "delete", file_id, *url]).exit_code == 0
    gone = runner.invoke(app, ["files", "delete", file_id, *url])
    assert gone.exit_code == 1
    assert gone.output.startswith(f"error: {server.url} answered 404: ")
    assert len(gone.output.splitlines()) == 1


def test_mistakes_are_one_line(server: Server, tmp_path: Path) -> None:
    absent = runner.invoke(app, ["files", "upload", str(tmp_path / "absent"), "--url", server.url])
    assert absent.exit_code == 1 and absent.output.strip() == f"error: no file at {tmp_path}/absent"
    purpose = runner.invoke(
        app, ["files", "upload", __file__, "--purpose", "x", "--url", server.url]
    )
    assert (
        purpose.exit_code == 1
        and "--purpose must be one of fine-tune, batch, ocr" in purpose.output
    )
    nobody = runner.invoke(app, ["files", "list", "--url", "http://127.0.0.1:9"])
    assert nobody.exit_code == 1 and "Is `autan serve` running?" in nobody.output
