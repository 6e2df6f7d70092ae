"""Start the stand-in as a subprocess on a free port and wait until it answers ``/health``."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StandIn:
    """A running stand-in: ``url`` is the server URL (a Mistral ``server_url``), ``v1`` the
    OpenAI ``base_url``. The helpers drive its test controls with the standard library only."""

    url: str

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"

    def behave(self, **behaviour: Any) -> dict[str, Any]:
        """Set how the next requests are answered (no arguments: back to the default)."""
        result: dict[str, Any] = self._call("POST", "/_standin/behaviour", behaviour)
        return result

    def requests(self) -> list[dict[str, Any]]:
        """The requests received, oldest first: method, path, query, headers, body."""
        result: list[dict[str, Any]] = self._call("GET", "/_standin/requests")
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "/_standin/requests")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_platform(
    *args: str, port: int | None = None, python: str = sys.executable
) -> tuple[subprocess.Popen[bytes], StandIn]:
    """``python -m tests.standin.platform --port PORT *args``, healthy when it returns."""
    port = port or free_port()
    cmd = [python, "-m", "tests.standin.platform", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    standin = StandIn(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the stand-in exited with {proc.returncode}: {cmd}")
        try:
            with urllib.request.urlopen(f"{standin.url}/health", timeout=1) as response:
                if response.status == 200:
                    return proc, standin
        except OSError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError("the stand-in did not answer /health in 30 s")


def stop_platform(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def running_platform(*args: str, port: int | None = None) -> Iterator[StandIn]:
    """The stand-in for a ``with`` block: ``with running_platform("--tokens", "4") as s:``."""
    proc, standin = start_platform(*args, port=port)
    try:
        yield standin
    finally:
        stop_platform(proc)
