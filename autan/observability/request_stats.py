"""The request log summed by hour or by day: requests, errors, tokens, cost and latency
percentiles per bucket, computed in the database (SQLite and PostgreSQL alike).

Percentiles are nearest-rank: the p-th percentile of a bucket's ``n`` latencies is the
smallest one whose rank (by latency, from 1) is at least ``p * n``: PostgreSQL's
``percentile_disc``, and on SQLite, which lacks it, the same rank found with one window pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Float, case, cast, func, select
from sqlalchemy.sql import Select

from autan.observability.event_search import Scope
from autan.storage.database import Database
from autan.storage.request_log_tables import RequestLogRow

Bucket = Literal["hour", "day"]
BUCKET_LENGTH: dict[Bucket, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
# At most this many buckets a call: a month by hour, or a year and a day by day.
MAX_BUCKETS: dict[Bucket, int] = {"hour": 24 * 31, "day": 366}


@dataclass(frozen=True, slots=True)
class RequestBucket:
    start: datetime  # naive UTC, the bucket's first instant
    requests: int
    errors: int  # status 400 and above
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    ttft_p50_ms: float | None


def bucket_start(at: datetime, bucket: Bucket) -> datetime:
    """The first instant of the bucket holding ``at``."""
    at = at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0) if bucket == "day" else at


class RequestStats:
    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def _ordered_set_query(kept: list[ColumnElement[bool]], bucket: Bucket) -> Select[Any]:
        """PostgreSQL: ``percentile_disc`` is nearest-rank, one sort per bucket."""
        c = RequestLogRow
        b = func.date_trunc(bucket, c.created_at).label("b")
        return (
            select(
                b,
                func.count(),
                func.sum(case((c.status >= 400, 1), else_=0)),
                func.sum(c.prompt_tokens),
                func.sum(c.completion_tokens),
                func.sum(c.cost),
                func.percentile_disc(0.5).within_group(c.latency_ms),
                func.percentile_disc(0.95).within_group(c.latency_ms),
                func.percentile_disc(0.5).within_group(c.ttft_ms),  # nulls left out
            )
            .where(*kept)
            .group_by(b)
            .order_by(b)
        )

    @staticmethod
    def _window_query(kept: list[ColumnElement[bool]], bucket: Bucket) -> Select[Any]:
        """SQLite, which has no ordered-set aggregates: ranks from one window pass."""
        c = RequestLogRow
        pattern = "%Y-%m-%d %H:00:00" if bucket == "hour" else "%Y-%m-%d 00:00:00"
        b = func.strftime(pattern, c.created_at).label("b")
        r = (
            select(
                b,
                c.status,
                c.prompt_tokens,
                c.completion_tokens,
                c.cost,
                c.latency_ms,
                c.ttft_ms,
                func.row_number().over(partition_by=b, order_by=c.latency_ms).label("rank"),
                func.count().over(partition_by=b).label("n"),
                # TTFT is null for requests that failed first: those rank apart, counted as none.
                func.count(c.ttft_ms).over(partition_by=b).label("n_ttft"),
                func.row_number()
                .over(partition_by=(b, c.ttft_ms.is_(None)), order_by=c.ttft_ms)
                .label("ttft_rank"),
            )
            .where(*kept)
            .subquery()
        )

        def percentile(p: float, value: Any, rank: Any, n: Any) -> ColumnElement[Any]:
            return func.min(case((cast(rank, Float) >= p * cast(n, Float), value)))

        return (
            select(
                r.c.b,
                func.count(),
                func.sum(case((r.c.status >= 400, 1), else_=0)),
                func.sum(r.c.prompt_tokens),
                func.sum(r.c.completion_tokens),
                func.sum(r.c.cost),
                percentile(0.5, r.c.latency_ms, r.c.rank, r.c.n),
                percentile(0.95, r.c.latency_ms, r.c.rank, r.c.n),
                percentile(0.5, r.c.ttft_ms, r.c.ttft_rank, r.c.n_ttft),
            )
            .group_by(r.c.b)
            .order_by(r.c.b)
        )

    def buckets(
        self, scope: Scope, *, since: datetime, until: datetime, bucket: Bucket
    ) -> list[RequestBucket]:
        """The buckets in ``[since, until)`` (naive UTC) that hold a request, oldest first."""
        c = RequestLogRow
        kept = [c.created_at >= since, c.created_at < until]
        if scope.workspace_id is not None:
            kept.append(c.workspace_id == scope.workspace_id)
        if self._db.dialect == "postgresql":
            query = self._ordered_set_query(kept, bucket)
        else:
            query = self._window_query(kept, bucket)
        with self._db.session() as session:
            lines = session.execute(query).all()
        return [
            RequestBucket(
                start=start if isinstance(start, datetime) else datetime.fromisoformat(start),
                requests=int(requests),
                errors=int(errors or 0),
                prompt_tokens=int(prompt or 0),
                completion_tokens=int(completion or 0),
                cost=float(cost or 0.0),
                latency_p50_ms=None if p50 is None else float(p50),
                latency_p95_ms=None if p95 is None else float(p95),
                ttft_p50_ms=None if ttft is None else float(ttft),
            )
            for start, requests, errors, prompt, completion, cost, p50, p95, ttft in lines
        ]
