"""The request log's writer: nothing queued is lost at close, a full queue drops rather than
waits, and bodies go once their retention has passed; on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from autan.observability.request_context import RequestContext, new_context
from autan.observability.request_log import RequestLog
from autan.settings import RequestLogSettings
from autan.storage.database import Database
from autan.storage.request_log_tables import RequestLogRow
from autan.storage.tables import utcnow
from tests.api.conftest import platform_app
from tests.api.test_auth import CHAT, bearer

MESSAGES = [{"role": "user", "content": "secret plans"}]


def _context(i: int, *, bodies_days: int | None = None) -> RequestContext:
    context = new_context("POST", "/v1/chat/completions", utcnow(), f"req-{i}")
    context.workspace_id, context.status, context.model = "ws", 200, "m"
    context.bodies_days = bodies_days
    context.request_messages = MESSAGES
    context.response_messages = [{"role": "assistant", "content": "ok"}]
    return context


def _count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(RequestLogRow)) or 0)


def test_close_writes_everything_queued_in_batches(db: Database) -> None:
    log = RequestLog(db, RequestLogSettings(batch_size=100, flush_seconds=3600))
    log.start()
    for i in range(1234):
        log.log(_context(i))
    log.close()
    assert _count(db) == 1234 and log.written == 1234 and log.dropped == 0


def test_a_full_queue_drops_new_records_and_counts_them(db: Database) -> None:
    log = RequestLog(db, RequestLogSettings(queue_size=10))  # not started: nothing drains it
    for i in range(15):
        log.log(_context(i))
    assert log.dropped == 5
    log.close()
    assert _count(db) == 10


def test_bodies_are_written_only_when_kept_and_removed_after_their_retention(
    db: Database,
) -> None:
    log = RequestLog(db)
    log.log(_context(1, bodies_days=1))
    log.log(_context(2, bodies_days=30))
    log.log(_context(3))
    log.close()

    def bodies() -> dict[str, object]:
        with db.session() as session:
            rows = session.scalars(select(RequestLogRow).order_by(RequestLogRow.request_id))
            return {r.request_id: r.request_messages for r in rows}

    assert bodies() == {"req-1": MESSAGES, "req-2": MESSAGES, "req-3": None}
    assert log.sweep() == 0
    assert log.sweep(utcnow() + timedelta(days=2)) == 1
    assert bodies() == {"req-1": None, "req-2": MESSAGES, "req-3": None}
    with db.session() as session:
        kept = session.scalars(select(RequestLogRow).where(RequestLogRow.request_id == "req-1"))
        (row,) = kept.all()
    assert row.response_messages is None and row.status == 200 and row.model == "m"


def test_requests_answered_before_a_clean_stop_are_all_recorded(tmp_path: Path) -> None:
    answered = []
    for platform in platform_app(tmp_path):
        _, secret = platform.key()
        for _ in range(5):
            r = platform.client.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
            answered.append(r.headers["x-request-id"])
        answered.append(
            platform.client.get("/v1/models", headers=bearer(secret)).headers["x-request-id"]
        )
    db = Database.open(None, tmp_path)
    try:
        with db.session() as session:
            recorded = set(session.scalars(select(RequestLogRow.request_id)))
    finally:
        db.close()
    assert set(answered) <= recorded
