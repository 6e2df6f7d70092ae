"""``autan pull`` from a local stand-in for Hugging Face: never the internet."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autan.cli.main import app
from autan.models.models_file import ModelsFile
from autan.models.packaged import packaged_model_path

runner = CliRunner()
REPO = "acme/Tiny-GGUF"


@dataclass
class Hub:
    url: str
    gguf: bytes
    ranges: list[str | None] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.gguf).hexdigest()


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    """A Hugging Face endpoint: the file list of one repository, its resolve URL that
    redirects to a CDN path, and that path answering HTTP Range requests."""
    state = Hub("", packaged_model_path().read_bytes())

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith(f"/api/models/{REPO}/tree/main"):
                tree = [
                    {"type": "file", "path": "README.md", "size": 5},
                    {"type": "file", "path": "Tiny-Q8_0.gguf", "size": 1},
                    {"type": "file", "path": "Tiny-Q4_K_M.gguf", "size": len(state.gguf),
                     "lfs": {"oid": state.sha256, "size": len(state.gguf)}},
                ]  # fmt: skip
                self._send(200, json.dumps(tree).encode(), "application/json")
            elif self.path.startswith("/api/models/"):
                self._send(404, b"{}", "application/json")
            elif self.path == f"/{REPO}/resolve/main/Tiny-Q4_K_M.gguf":
                self.send_response(302)
                self.send_header("Location", "/cdn/Tiny-Q4_K_M.gguf")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path in ("/cdn/Tiny-Q4_K_M.gguf", "/files/plain.gguf"):
                self._file()
            else:
                self._send(404, b"not found", "text/plain")

        def _file(self) -> None:
            asked = self.headers.get("Range")
            state.ranges.append(asked)
            body, status = state.gguf, 200
            if asked:
                start = int(asked.removeprefix("bytes=").split("-")[0])
                body, status = state.gguf[start:], 206
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(state.gguf) - 1}/*")
            self.end_headers()
            self.wfile.write(body)

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def _pull(hub: Hub, data: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["pull", *args, "--data-dir", str(data)], env={"HF_ENDPOINT": hub.url}
    )
    return result.exit_code, result.output


def test_a_repository_file_is_downloaded_checked_and_declared(hub: Hub, tmp_path: Path) -> None:
    code, out = _pull(hub, tmp_path, REPO)
    assert code == 0, out
    target = tmp_path / "models" / "Tiny-Q4_K_M.gguf"
    assert target.read_bytes() == hub.gguf
    assert f"downloaded {target} (sha256 {hub.sha256}, checked)" in out
    assert f"added tiny to {tmp_path / 'models.toml'}" in out
    (card,) = ModelsFile(tmp_path / "models.toml").read()
    assert card.id == "tiny" and card.path == target
    assert not target.with_name("Tiny-Q4_K_M.gguf.part").exists()

    code, out = _pull(hub, tmp_path, f"hf.co/{REPO}:Q4_K_M")
    assert code == 0, out
    assert f"tiny already declares it in {tmp_path / 'models.toml'}" in out


def test_an_interrupted_download_resumes_where_it_stopped(hub: Hub, tmp_path: Path) -> None:
    part = tmp_path / "models" / "plain.gguf.part"
    part.parent.mkdir()
    part.write_bytes(hub.gguf[:1_000_000])
    hub.ranges.clear()
    code, out = _pull(hub, tmp_path, f"{hub.url}/files/plain.gguf", "--id", "plain",
                      "--sha256", hub.sha256)  # fmt: skip
    assert code == 0, out
    assert hub.ranges == ["bytes=1000000-"]
    assert (tmp_path / "models" / "plain.gguf").read_bytes() == hub.gguf


def test_a_wrong_checksum_deletes_the_download(hub: Hub, tmp_path: Path) -> None:
    code, out = _pull(hub, tmp_path, f"{hub.url}/files/plain.gguf", "--sha256", "0" * 64)
    assert code == 1
    said = out.splitlines()[-1]  # after the progress bar
    assert said.startswith("error: plain.gguf: sha256 ") and "the download was deleted" in said
    assert list((tmp_path / "models").iterdir()) == []
    assert not (tmp_path / "models.toml").exists()


def test_names_that_lead_nowhere_get_one_line(hub: Hub, tmp_path: Path) -> None:
    cases = {
        f"{REPO}:Q2_K": f"error: {REPO} has no Q2_K GGUF; its GGUF files: Tiny-Q8_0.gguf, "
        "Tiny-Q4_K_M.gguf",
        "acme/absent": f"error: no repository acme/absent (revision main) at {hub.url}",
        "not a name": "error: 'not a name' is neither a URL",
        f"{hub.url}/files/readme.txt": f"error: {hub.url}/files/readme.txt does not name a "
        ".gguf file",
    }
    for name, said in cases.items():
        code, out = _pull(hub, tmp_path, name)
        assert code == 1 and out.startswith(said), (name, out)
        assert len(out.strip().splitlines()) == 1
