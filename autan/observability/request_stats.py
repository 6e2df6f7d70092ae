"""The request log summed by hour or by day: requests, errors, tokens, cost and latency
percentiles per bucket, computed in the database (SQLite and PostgreSQL alike).

Percentiles are nearest-rank: the p-th percentile of a bucket's ``n`` latencies is the
smallest one whose rank (by latency, from 1) is at least ``p * n``, found with one window
pass, which both databases run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Float, case, cast, func, select

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

    def _truncated(self, bucket: Bucket) -> ColumnElement[Any]:
        created = RequestLogRow.created_at
        if self._db.dialect == "postgresql":
            return func.date_trunc(bucket, created)
        pattern = "%Y-%m-%d %H:00:00" if bucket == "hour" else "%Y-%m-%d 00:00:00"
        return func.strftime(pattern, created)

    def buckets(
        self, scope: Scope, *, since: datetime, until: datetime, bucket: Bucket
    ) -> list[RequestBucket]:
        """The buckets in ``[since, until)`` (naive UTC) that hold a request, oldest first."""
        c = RequestLogRow
        b = self._truncated(bucket).label("b")
        ranked_query = select(
            b,
            c.status,
            c.prompt_tokens,
            c.completion_tokens,
            c.cost,
            c.latency_ms,
            c.ttft_ms,
            func.row_number().over(partition_by=b, order_by=c.latency_ms).label("rank"),
            func.count().over(partition_by=b).label("n"),
            # TTFT is null for requests that failed first: those rank apart and count as none.
            func.count(c.ttft_ms).over(partition_by=b).label("n_ttft"),
            func.row_number()
            .over(partition_by=(b, c.ttft_ms.is_(None)), order_by=c.ttft_ms)
            .label("ttft_rank"),
        ).where(c.created_at >= since, c.created_at < until)
        if scope.workspace_id is not None:
            ranked_query = ranked_query.where(c.workspace_id == scope.workspace_id)
        r = ranked_query.subquery()

        def percentile(p: float, value: Any, rank: Any, n: Any) -> ColumnElement[Any]:
            return func.min(case((cast(rank, Float) >= p * cast(n, Float), value)))

        query = (
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
