"""The usage ledger: one record per request, written in batches by a thread of its own.

Requests only append to a buffer; the writer inserts whatever has gathered every
``flush_seconds`` (or as soon as ``batch_size`` records wait), in one transaction. The request
path never waits on the database, and ``close`` writes what is left, so a clean stop loses
nothing. A failed write keeps its records for the next attempt.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy import func, insert, select

from autan.storage.database import Database
from autan.storage.tables import UsageRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UsageRecord:
    created_at: datetime
    key_id: str
    workspace_id: str
    endpoint: str
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency_ms: float
    status: int
    batch: bool = False


@dataclass(frozen=True, slots=True)
class UsageLine:
    """Totals for one day, model and key."""

    day: date
    model: str | None
    key_id: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


class UsageLedger:
    def __init__(self, db: Database, *, flush_seconds: float = 1.0, batch_size: int = 500) -> None:
        self._db = db
        self._flush_seconds = flush_seconds
        self._batch_size = batch_size
        self._pending: list[UsageRecord] = []
        self._lock = threading.Lock()  # guards _pending
        # Held for a whole write: a flush that finds the buffer empty because the writer thread
        # took it still returns only once those records are in the database.
        self._writing = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._writer = threading.Thread(target=self._run, name="autan-usage-writer", daemon=True)

    def start(self) -> None:
        self._writer.start()

    def add(self, record: UsageRecord) -> None:
        with self._lock:
            self._pending.append(record)
            full = len(self._pending) >= self._batch_size
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Write every buffered record now; how many were written."""
        with self._writing:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                with self._db.session() as session, session.begin():
                    session.execute(insert(UsageRow), [asdict(r) for r in batch])
            except Exception:
                log.exception("writing %d usage records failed; kept for the next try", len(batch))
                with self._lock:
                    self._pending[:0] = batch
                return 0
            return len(batch)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        """Stop the writer and write what is left."""
        self._stopping = True
        self._wake.set()
        if self._writer.is_alive():
            self._writer.join()
        self.flush()

    def spent(self, workspace_id: str, since: datetime) -> float:
        """What a workspace's requests cost since ``since``, as written so far."""
        query = select(func.coalesce(func.sum(UsageRow.cost), 0.0)).where(
            UsageRow.workspace_id == workspace_id, UsageRow.created_at >= since
        )
        with self._db.session() as session:
            return float(session.scalar(query) or 0.0)

    def lines(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        workspace_id: str | None = None,
        key_id: str | None = None,
    ) -> list[UsageLine]:
        """Totals by day, model and key, oldest first."""
        day = func.date(UsageRow.created_at)
        query = select(
            day,
            UsageRow.model,
            UsageRow.key_id,
            func.count(),
            func.sum(UsageRow.prompt_tokens),
            func.sum(UsageRow.completion_tokens),
            func.sum(UsageRow.cost),
        )
        if since is not None:
            query = query.where(UsageRow.created_at >= since)
        if until is not None:
            query = query.where(UsageRow.created_at < until)
        if workspace_id is not None:
            query = query.where(UsageRow.workspace_id == workspace_id)
        if key_id is not None:
            query = query.where(UsageRow.key_id == key_id)
        query = query.group_by(day, UsageRow.model, UsageRow.key_id).order_by(
            day, UsageRow.model, UsageRow.key_id
        )
        with self._db.session() as session:
            rows = session.execute(query).all()
        return [
            UsageLine(
                # SQLite's date() gives text, PostgreSQL's a date.
                day=d if isinstance(d, date) else date.fromisoformat(str(d)),
                model=model,
                key_id=key,
                requests=int(n),
                prompt_tokens=int(p or 0),
                completion_tokens=int(c or 0),
                cost=float(cost or 0.0),
            )
            for d, model, key, n, p, c, cost in rows
        ]
