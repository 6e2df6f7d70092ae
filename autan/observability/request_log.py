"""The request log's writer: a bounded queue, and a thread that inserts what waits in batches.

A request only enqueues its ``RequestContext`` (``log``): nothing on the request path waits
for the database. The writer thread takes up to ``batch_size`` records at a time and inserts
them in one transaction, at least every ``flush_seconds``; every ``retention_sweep_seconds``
it also removes bodies past their retention. A full queue drops the new record and counts it
(``dropped``) rather than slow the server down. ``close`` writes everything still queued.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import SQLAlchemyError

from autan.observability.event_search import EventSearch
from autan.observability.request_context import RequestContext
from autan.observability.request_stats import RequestStats
from autan.settings import RequestLogSettings
from autan.storage.database import Database
from autan.storage.request_log_tables import RequestLogRow
from autan.storage.tables import utcnow

log = logging.getLogger(__name__)


def _json(items: list[Any] | None) -> list[dict[str, Any]] | None:
    """Wire objects (pydantic models) as JSON-ready dicts; dicts as they are."""
    if items is None:
        return None
    return [
        item.model_dump(mode="json", exclude_none=True) if hasattr(item, "model_dump") else item
        for item in items
    ]


def _row(context: RequestContext, ended: float) -> dict[str, Any]:
    c = context
    keep = c.bodies_days is not None
    return {
        "id": c.event_id,
        "request_id": c.request_id,
        "created_at": c.created_at,
        "workspace_id": c.workspace_id,
        "key_id": c.key_id,
        "method": c.method[:8],
        "endpoint": c.endpoint[:128],
        "model": c.model,
        "status": c.status,
        "error_code": None if c.error_code is None else c.error_code[:64],
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "cost": c.cost,
        "ttft_ms": None if c.first_token_at is None else (c.first_token_at - c.started) * 1000,
        "latency_ms": (ended - c.started) * 1000,
        "queue_ms": None if c.queue_seconds is None else c.queue_seconds * 1000,
        "finish_reason": c.finish_reason,
        "stream": c.stream,
        "batch_job_id": c.batch_job_id,
        "deployment": None if c.deployment is None else c.deployment[:255],
        "nb_messages": c.nb_messages,
        "request_messages": _json(c.request_messages) if keep else None,
        "response_messages": _json(c.response_messages) if keep else None,
        "tools": _json(c.tools) if keep else None,
        "bodies_expire_at": (
            c.created_at + timedelta(days=c.bodies_days) if c.bodies_days is not None else None
        ),
    }


class RequestLog:
    def __init__(self, db: Database, settings: RequestLogSettings | None = None) -> None:
        self._db = db
        self.settings = settings or RequestLogSettings()
        # (context, perf_counter at its end). A deque, not a queue.Queue: appending takes no
        # lock and wakes no thread, so a request pays for neither; the writer wakes every
        # ``flush_seconds``, or at once when a batch is waiting.
        self._pending: deque[tuple[RequestContext, float]] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._writer = threading.Thread(target=self._run, name="autan-request-log", daemon=True)
        self._write_lock = threading.Lock()  # one batch at a time: the thread's or flush's
        self.dropped = 0
        self.written = 0
        self.search = EventSearch(db)
        self.stats = RequestStats(db)

    def start(self) -> None:
        self._writer.start()

    def log(self, context: RequestContext) -> None:
        """Queue the record of a request that has ended: the only work on its path."""
        waiting = len(self._pending)
        if waiting >= self.settings.queue_size:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "request log queue full (%d records): %d records dropped so far",
                    self.settings.queue_size,
                    self.dropped,
                )
            return
        self._pending.append((context, time.perf_counter()))
        if waiting + 1 == self.settings.batch_size:
            self._wake.set()

    def _take(self) -> list[dict[str, Any]]:
        """What waits, up to a batch, as rows."""
        rows: list[dict[str, Any]] = []
        while len(rows) < self.settings.batch_size:
            try:
                item = self._pending.popleft()
            except IndexError:
                break
            rows.append(_row(*item))
        return rows

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            with self._db.session() as session, session.begin():
                session.execute(insert(RequestLogRow), rows)
            self.written += len(rows)
        except SQLAlchemyError as e:  # the database is down or refused them: logged, not kept
            log.error("writing %d request log records failed: %s", len(rows), e)

    def _run(self) -> None:
        next_sweep = time.monotonic()
        while not self._stopping:
            if time.monotonic() >= next_sweep:
                self.sweep()
                next_sweep = time.monotonic() + self.settings.retention_sweep_seconds
            self._wake.wait(self.settings.flush_seconds)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Write every record queued so far, on this thread."""
        with self._write_lock:
            while self._pending:
                self._write(self._take())

    def sweep(self, now: datetime | None = None) -> int:
        """Remove the bodies whose retention has passed; how many records lost theirs."""
        try:
            with self._db.session() as session, session.begin():
                result = session.execute(
                    update(RequestLogRow)
                    .where(RequestLogRow.bodies_expire_at <= (now or utcnow()))
                    .values(
                        request_messages=None,
                        response_messages=None,
                        tools=None,
                        bodies_expire_at=None,
                    )
                    .execution_options(synchronize_session=False)
                )
            return int(result.rowcount)  # type: ignore[attr-defined]
        except SQLAlchemyError as e:
            log.error("removing expired request bodies failed: %s", e)
            return 0

    def close(self) -> None:
        """Stop the writer once it has written everything queued before."""
        self._stopping = True
        if self._writer.is_alive():
            self._wake.set()
            self._writer.join()
        self.flush()
