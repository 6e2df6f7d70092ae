"""Kill ``autan serve`` (SIGKILL) right after the last of N answers arrived: the database
holds N usage records, streamed or not. Whatever reached a client is billed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from autan.storage.tables import UsageRow
from tests.server import start_server, stop_server

pytestmark = pytest.mark.model

N = 20


def test_every_answered_request_is_billed_after_sigkill(tmp_path: Path) -> None:
    # A long flush interval: only a write made before each answer ends can save the records.
    env = {"AUTAN_ACCOUNTS__USAGE_FLUSH_SECONDS": "3600"}
    args = ("--data-dir", str(tmp_path), "--ctx-size", "512", "--no-embeddings")
    proc, server = start_server(*args, auth=True, env=env)
    try:
        key = (tmp_path / "admin_key").read_text().strip()
        body = {
            "model": server.model,
            "max_tokens": 2,
            "messages": [{"role": "user", "content": "Hi"}],
        }
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            for i in range(N):
                if i % 2:
                    with client.stream(
                        "POST", f"{server.v1}/chat/completions", json={**body, "stream": True}
                    ) as r:
                        assert r.status_code == 200
                        assert [ln for ln in r.iter_lines() if ln][-1] == "data: [DONE]"
                else:
                    r = client.post(f"{server.v1}/chat/completions", json=body)
                    assert r.status_code == 200, r.text
        proc.kill()  # SIGKILL: no shutdown handler runs
        proc.wait()
    except BaseException:
        stop_server(proc)
        raise
    engine = create_engine(f"sqlite:///{tmp_path / 'autan.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(func.count(), func.sum(UsageRow.completion_tokens)).where(
                    UsageRow.endpoint == "/v1/chat/completions"
                )
            ).one()
    finally:
        engine.dispose()
    assert rows[0] == N
    assert rows[1] > 0
