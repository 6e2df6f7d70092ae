"""``autan serve`` stopped with SIGTERM while a stream is in flight: it accepts no new
connection, lets the stream end whole, bills it, and exits."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from autan.storage.tables import UsageRow
from tests.server import start_server, stop_server

pytestmark = pytest.mark.model


def test_sigterm_lets_a_stream_in_flight_end_and_bills_it(tmp_path: Path) -> None:
    env = {"AUTAN_SHUTDOWN_GRACE_SECONDS": "60", "AUTAN_ACCOUNTS__USAGE_FLUSH_SECONDS": "3600"}
    args = ("--data-dir", str(tmp_path), "--ctx-size", "512", "--no-embeddings")
    proc, server = start_server(*args, auth=True, env=env)
    try:
        key = (tmp_path / "admin_key").read_text().strip()
        body = {
            "model": server.model,
            "max_tokens": 48,
            "temperature": 0,
            "stream": True,
            "messages": [{"role": "user", "content": "Count from 1 to 100, one number a line."}],
        }
        client = httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60)
        with client, client.stream("POST", f"{server.v1}/chat/completions", json=body) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            first = next(line for line in lines if line)
            assert first.startswith("data: {")
            proc.send_signal(signal.SIGTERM)
            # The listening socket closes at once: a new client is refused...
            for _ in range(100):
                try:
                    httpx.get(f"{server.url}/livez", timeout=1)
                except httpx.ConnectError:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the server still accepts connections 5 s after SIGTERM")
            # ...while the stream in flight goes on to its end.
            rest = [line for line in lines if line]
        assert rest[-1] == "data: [DONE]"
        assert len(rest) >= 3  # chunks written after SIGTERM
        # uvicorn ends a clean shutdown by raising the signal again, as its default action would
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
    except BaseException:
        stop_server(proc)
        raise
    engine = create_engine(f"sqlite:///{tmp_path / 'autan.db'}")
    try:
        with engine.connect() as conn:
            billed = conn.scalar(
                select(func.count()).where(UsageRow.endpoint == "/v1/chat/completions")
            )
    finally:
        engine.dispose()
    assert billed == 1
