"""The usage ledger: one record per request, written by a thread of its own, with the daily
rollups (``usage_rollup``) updated in the same transaction.

A request that is answered waits for its record to be committed before the end of its answer
goes out (``commit``): whatever reached a client is billed, even if the process is killed the
next instant. The writer inserts every record waiting at once, in one transaction, so
concurrent requests share their commits (group commit) rather than taking turns. Records of
requests that were not answered (the client went away) are only buffered (``add``) and
written with the next commit, or every ``flush_seconds``, or as soon as ``batch_size`` wait.
``close`` writes what is left. A failed write is tried again record by record: a record the
database refuses fails only the request waiting on it, and is kept for the next attempt.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy import func, insert, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from autan.accounts.usage_rollup import UsageRollups, add_to_rollups
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


@dataclass(slots=True)
class _Pending:
    record: UsageRecord
    done: Future[None] | None = None  # set for a commit: its request waits on it


class UsageLedger:
    def __init__(self, db: Database, *, flush_seconds: float = 1.0, batch_size: int = 500) -> None:
        self._db = db
        self._flush_seconds = flush_seconds
        self._batch_size = batch_size
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()  # guards _pending
        # Held for a whole write: a flush that finds the buffer empty because the writer thread
        # took it still returns only once those records are in the database.
        self._writing = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._writer = threading.Thread(target=self._run, name="autan-usage-writer", daemon=True)
        self.rollups = UsageRollups(db)

    def start(self) -> None:
        self._writer.start()

    def add(self, record: UsageRecord) -> None:
        """Buffer ``record``: written within ``flush_seconds``, lost if the process dies first."""
        with self._lock:
            self._pending.append(_Pending(record))
            full = len(self._pending) >= self._batch_size
        if full:
            self._wake.set()

    def commit(self, record: UsageRecord) -> Future[None]:
        """Write ``record`` now, with whatever else waits; the future is done once it is in
        the database (or failed, if the write failed). Without a started writer thread, it
        is written on this thread."""
        done: Future[None] = Future()
        with self._lock:
            self._pending.append(_Pending(record, done))
        if self._writer.is_alive() and not self._stopping:
            self._wake.set()
        else:
            self.flush()
        return done

    def flush(self) -> int:
        """Write every buffered record now; how many were written."""
        with self._writing:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            for item in batch:
                # A waiter that gave up (its request was cancelled) still has its record written.
                if item.done is not None and not item.done.set_running_or_notify_cancel():
                    item.done = None
            error = self._insert(batch)
            if error is None:
                self._finish(batch, None)
                return len(batch)
            log.error("writing %d usage records failed: %s", len(batch), error)
            failed = []
            if isinstance(error, OperationalError) or len(batch) == 1:  # unreachable, or alone
                self._finish(batch, error)
                failed = batch
            else:  # one by one: a record the database refuses fails its own request only
                for item in batch:
                    error = self._insert([item])
                    self._finish([item], error)
                    if error is not None:
                        failed.append(item)
            if failed:
                log.error("%d usage records kept for the next try", len(failed))
                with self._lock:
                    self._pending[:0] = [_Pending(item.record) for item in failed]
            return len(batch) - len(failed)

    def _insert(self, batch: list[_Pending]) -> SQLAlchemyError | None:
        try:
            with self._db.session() as session, session.begin():
                session.execute(insert(UsageRow), [asdict(item.record) for item in batch])
                add_to_rollups(session, (item.record for item in batch))
        except SQLAlchemyError as e:  # the database is down or refused them
            return e
        return None

    @staticmethod
    def _finish(batch: list[_Pending], error: SQLAlchemyError | None) -> None:
        for item in batch:
            if item.done is None:
                continue
            if error is None:
                item.done.set_result(None)
            else:
                item.done.set_exception(error)
            item.done = None

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
        """Totals by day, model and key (every call, answered or failed, inference or not),
        oldest first, from the daily rollups."""
        totals: dict[tuple[date, str, str], UsageLine] = {}
        for r in self.rollups.lines(
            since=since, until=until, workspace_id=workspace_id, key_id=key_id
        ):
            line = totals.get((r.day, r.model, r.key_id))
            requests, prompt, completion, cost = r.requests + r.errors, 0, 0, 0.0
            if line is not None:
                requests += line.requests
                prompt, completion, cost = line.prompt_tokens, line.completion_tokens, line.cost
            totals[(r.day, r.model, r.key_id)] = UsageLine(
                day=r.day,
                model=r.model or None,
                key_id=r.key_id,
                requests=requests,
                prompt_tokens=prompt + r.prompt_tokens,
                completion_tokens=completion + r.completion_tokens,
                cost=cost + r.cost,
            )
        return [totals[k] for k in sorted(totals)]
