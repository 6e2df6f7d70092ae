"""Migration 0009: the request log gains ``queue_ms``, null for the records already there; and
back, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import inspect, text

from autan.storage.database import Database
from autan.storage.request_log_tables import RequestLogRow
from tests.storage.test_migration_0004_jobs import _alembic


def test_the_request_log_gains_queue_ms_and_loses_it_on_downgrade(db: Database) -> None:
    _alembic(db, "0008_workspace_rate_limits", down=True)
    assert "queue_ms" not in {c["name"] for c in inspect(db.engine).get_columns("request_log")}
    event_id = str(uuid.uuid4())
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO request_log (id, request_id, created_at, method, endpoint, status,"
                " prompt_tokens, completion_tokens, cost, latency_ms, stream, nb_messages)"
                " VALUES (:id, 'r', :at, 'POST', '/v1/chat/completions', 200, 1, 1, 0, 5,"
                " false, 1)"
            ),
            {"id": event_id, "at": datetime(2026, 1, 1)},
        )
    _alembic(db, "head")
    with db.session() as session:
        row = session.get(RequestLogRow, event_id)
    assert row is not None and row.queue_ms is None and row.latency_ms == 5
