"""Daily usage rollups: the usage ledger summed by day, workspace, key, model, batch flag and
kind, kept in the same transaction as the records they sum.

Inference requests (chat, FIM, embeddings, and every batch line) are counted apart from
management calls (listing models, polling a batch job, uploading a file...), and failed
requests (status 400 and above) apart from answered ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from autan.storage.database import Database
from autan.storage.request_log_tables import UsageDailyRow

if TYPE_CHECKING:
    from autan.accounts.usage_ledger import UsageRecord

INFERENCE_ENDPOINTS = frozenset(("/v1/chat/completions", "/v1/fim/completions", "/v1/embeddings"))
_SUMS = ("requests", "errors", "prompt_tokens", "completion_tokens", "cost")


@dataclass(frozen=True, slots=True)
class RollupLine:
    """One day's totals for one model ('' for calls without one), key and kind."""

    day: date
    workspace_id: str
    key_id: str
    model: str
    batch: bool
    inference: bool
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


# What a summary may be grouped by, and the column each is read from. ``kind`` is
# ``interactive``, ``batch`` or ``management`` (a call that is not inference).
_KIND = case(
    (UsageDailyRow.inference.is_(False), "management"),
    (UsageDailyRow.batch, "batch"),
    else_="interactive",
)
SUMMARY_DIMENSIONS: dict[str, Any] = {
    "day": UsageDailyRow.day,
    "model": UsageDailyRow.model,
    "key": UsageDailyRow.key_id,
    "workspace": UsageDailyRow.workspace_id,
    "kind": _KIND,
}


@dataclass(frozen=True, slots=True)
class SummaryLine:
    """Totals for one group of a summary; a dimension not grouped by is None."""

    day: date | None
    model: str | None
    key_id: str | None
    workspace_id: str | None
    kind: str | None
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


def _group(record: UsageRecord) -> tuple[date, str, str, str, bool, bool]:
    return (
        record.created_at.date(),
        record.workspace_id,
        record.key_id,
        record.model or "",
        record.batch,
        record.batch or record.endpoint in INFERENCE_ENDPOINTS,
    )


def add_to_rollups(session: Session, records: Iterable[UsageRecord]) -> None:
    """Add ``records`` to their days' rollups, inside the caller's transaction. Rows are
    upserted in one order, so concurrent writers never wait on each other in a cycle."""
    totals: dict[tuple[date, str, str, str, bool, bool], list[Any]] = {}
    for record in records:
        t = totals.setdefault(_group(record), [0, 0, 0, 0, 0.0])
        t[0 if record.status < 400 else 1] += 1
        t[2] += record.prompt_tokens
        t[3] += record.completion_tokens
        t[4] += record.cost
    if not totals:
        return
    names = ("day", "workspace_id", "key_id", "model", "batch", "inference")
    rows = [
        {**dict(zip(names, key, strict=True)), **dict(zip(_SUMS, sums, strict=True))}
        for key, sums in sorted(totals.items())
    ]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(UsageDailyRow)
    statement = statement.on_conflict_do_update(
        index_elements=list(names),
        set_={s: getattr(UsageDailyRow, s) + getattr(statement.excluded, s) for s in _SUMS},
    )
    session.execute(statement, rows)


class UsageRollups:
    def __init__(self, db: Database) -> None:
        self._db = db

    def lines(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        workspace_id: str | None = None,
        key_id: str | None = None,
    ) -> list[RollupLine]:
        """Each day's totals by model, key and kind, oldest first. ``since`` and ``until``
        are cut to days (a month's bounds are)."""
        query = select(UsageDailyRow)
        if since is not None:
            query = query.where(UsageDailyRow.day >= since.date())
        if until is not None:
            query = query.where(UsageDailyRow.day < until.date())
        if workspace_id is not None:
            query = query.where(UsageDailyRow.workspace_id == workspace_id)
        if key_id is not None:
            query = query.where(UsageDailyRow.key_id == key_id)
        query = query.order_by(
            UsageDailyRow.day,
            UsageDailyRow.model,
            UsageDailyRow.key_id,
            UsageDailyRow.inference.desc(),
            UsageDailyRow.batch,
        )
        with self._db.session() as session:
            rows = session.scalars(query).all()
        return [
            RollupLine(
                day=r.day,
                workspace_id=r.workspace_id,
                key_id=r.key_id,
                model=r.model,
                batch=r.batch,
                inference=r.inference,
                requests=r.requests,
                errors=r.errors,
                prompt_tokens=r.prompt_tokens,
                completion_tokens=r.completion_tokens,
                cost=r.cost,
            )
            for r in rows
        ]

    def summary(
        self,
        *,
        since: datetime,
        until: datetime,
        group_by: Sequence[str],
        workspace_id: str | None = None,
    ) -> list[SummaryLine]:
        """Totals from ``since`` to ``until`` (cut to days) grouped by ``group_by`` (names in
        ``SUMMARY_DIMENSIONS``), summed in the database: a year of a busy server's rollups
        comes back as a few hundred rows, not every day's every key."""
        assert set(group_by) <= SUMMARY_DIMENSIONS.keys(), f"unknown dimension in {group_by}"
        dims = [SUMMARY_DIMENSIONS[name].label(name) for name in group_by]
        sums = [func.coalesce(func.sum(getattr(UsageDailyRow, s)), 0).label(s) for s in _SUMS]
        query = select(*dims, *sums).where(
            UsageDailyRow.day >= since.date(), UsageDailyRow.day < until.date()
        )
        if workspace_id is not None:
            query = query.where(UsageDailyRow.workspace_id == workspace_id)
        if dims:
            query = query.group_by(*dims).order_by(*dims)
        with self._db.session() as session:
            rows = session.execute(query).all()
        # Positions in each row: a dimension not grouped by reads the None after the sums.
        at = {name: i for i, name in enumerate(group_by)}
        none = len(dims) + len(_SUMS)
        day, model, key, workspace, kind = (
            at.get(n, none) for n in ("day", "model", "key", "workspace", "kind")
        )
        first = len(dims)
        return [
            SummaryLine(
                t[day],
                t[model],
                t[key],
                t[workspace],
                t[kind],
                int(t[first]),
                int(t[first + 1]),
                int(t[first + 2]),
                int(t[first + 3]),
                float(t[first + 4]),
            )
            for t in ((*r, None) for r in rows)
        ]
