"""A real ``autan serve`` in a subprocess, on the real packaged model, for the SDK tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from autan.models.packaged import CODE_MODEL, CODE_MODEL_NAME

ROOT = Path(__file__).resolve().parents[1]


def default_chat_model_ids() -> list[str]:
    """The chat models a server started without a models file lists: the packaged model, and
    the code model beside it when it is installed (``make code-model``, part of ``make dev``)."""
    return ["smollm2-135m-instruct", *([CODE_MODEL_NAME] if CODE_MODEL.installed() else [])]


def require_code_model() -> None:
    """Skips a test that needs the code model when it is not installed; under ``CI=true``,
    where ``make test`` installs it, its absence fails the test."""
    if CODE_MODEL.installed():
        return
    reason = f"the code model is not installed at {CODE_MODEL.target} (run `make code-model`)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + "; CI must provide it (`make dev` installs it)")
    pytest.skip(reason)


@dataclass(frozen=True)
class Server:
    url: str
    model: str = "smollm2-135m-instruct"

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    *args: str, auth: bool = False, env: dict[str, str] | None = None, port: int | None = None
) -> tuple[subprocess.Popen[bytes], Server]:
    """``autan serve`` with ``args``. Without ``auth`` it runs with ``--no-auth``, so any bearer
    token works; with it, pass ``--data-dir`` (the admin key is written there) and any
    ``AUTAN_*`` settings in ``env``. ``port``: a given one (a server started again).

    A server given no data dir gets a fresh one of its own: what one test's server keeps (a
    fine-tuned model, a file) must not show up in another's."""
    port = port or _free_port()
    if "--data-dir" not in args and "AUTAN_DATA_DIR" not in (env or {}):
        args = (
            *args,
            "--data-dir",
            tempfile.mkdtemp(prefix=f"server-{port}-", dir=os.environ.get("AUTAN_DATA_DIR")),
        )
    cmd = [
        sys.executable,
        "-m",
        "autan.cli.main",
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
        *args,
        *(() if auth else ("--no-auth",)),
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    )
    server = Server(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"autan serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return proc, server
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("autan serve did not become healthy in 120 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_worker(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``autan worker`` with ``args`` and the ``AUTAN_*`` settings in ``env``; it serves no
    HTTP, so it is running once started (it claims jobs as soon as its platform is open)."""
    cmd = [sys.executable, "-m", "autan.cli.main", "worker", "--log-level", "warning", *args]
    return subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    )
