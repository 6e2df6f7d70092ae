"""Searching the request log: the observability API's filters turned into SQL, newest
first, a page at a time, within one workspace unless the caller is an admin.

A filter is a tree of ``AND``/``OR`` groups over conditions ``{field, op, value}``; every
value is checked against its field's type before it reaches the database, so bad input is a
400 that reads the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, true
from sqlalchemy.sql import Select

from autan.errors import InvalidRequest, NotFound
from autan.observability.event_fields import FIELDS, EventField
from autan.protocol.fields import storable_text_error
from autan.protocol.observability import FilterCondition, FilterGroup
from autan.storage.database import Database
from autan.storage.request_log_tables import RequestLogRow

MAX_DEPTH = 8
MAX_CONDITIONS = 100
MAX_LIST = 1000
MAX_OPTIONS = 1000
# Numbers compared must fit any column and SQLite's 64-bit integers.
_MAX_NUMBER = 2**53


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose records a caller sees: one workspace's, or (None) every one."""

    workspace_id: str | None


def _bad(message: str) -> InvalidRequest:
    return InvalidRequest(message, param="search_params", code="invalid_filter")


def _text(field: EventField, value: Any) -> str:
    if not isinstance(value, str) or len(value) > 1024:
        raise _bad(f"{field.name} takes a string of at most 1024 characters")
    problem = storable_text_error(value)
    if problem is not None:
        raise _bad(f"{field.name}: {problem}")
    return value


def _typed(field: EventField, value: Any) -> Any:
    """``value`` as ``field``'s column holds it; a 400 when it cannot be."""
    if field.type == "TIMESTAMP":
        if not isinstance(value, str):
            raise _bad(f"{field.name} takes an ISO 8601 date-time, not {value!r}")
        try:
            t = datetime.fromisoformat(value)
        except ValueError as e:
            raise _bad(f"{field.name} takes an ISO 8601 date-time: {e}") from e
        return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t
    if field.type == "BOOL":
        if not isinstance(value, bool):
            raise _bad(f"{field.name} takes true or false, not {value!r}")
        return value
    if field.type in ("INT", "FLOAT"):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or abs(value) > _MAX_NUMBER
        ):
            raise _bad(f"{field.name} takes a number, not {value!r}")
        return value
    return _text(field, value)


def _condition(c: FilterCondition) -> ColumnElement[bool]:
    field = FIELDS.get(c.field)
    if field is None:
        raise _bad(f"Unknown field {c.field!r}; GET /v1/observability/chat-completion-fields")
    if c.op not in field.operators:
        raise _bad(
            f"{field.name} does not support {c.op!r}; it supports {', '.join(field.operators)}"
        )
    column = field.column
    op = c.op
    if op == "isnull":
        if not isinstance(c.value, bool):
            raise _bad("isnull takes true or false")
        return cast(ColumnElement[bool], column.is_(None) if c.value else column.is_not(None))
    if op in ("includes", "excludes"):
        if not isinstance(c.value, list) or len(c.value) > MAX_LIST:
            raise _bad(f"{op} takes a list of at most {MAX_LIST} values")
        values = [_typed(field, v) for v in c.value]
        inside = column.in_(values) if values else false()
        return inside if op == "includes" else or_(not_(inside), column.is_(None))
    value = _typed(field, c.value)
    comparisons: dict[str, Any] = {
        "eq": lambda: column == value,
        "neq": lambda: or_(column != value, column.is_(None)),
        "lt": lambda: column < value,
        "lte": lambda: column <= value,
        "gt": lambda: column > value,
        "gte": lambda: column >= value,
        "startswith": lambda: column.startswith(value, autoescape=True),
        "istartswith": lambda: column.istartswith(value, autoescape=True),
        "endswith": lambda: column.endswith(value, autoescape=True),
        "iendswith": lambda: column.iendswith(value, autoescape=True),
        "contains": lambda: column.contains(value, autoescape=True),
        "icontains": lambda: column.icontains(value, autoescape=True),
        "notcontains": lambda: or_(not_(column.contains(value, autoescape=True)), column.is_(None)),
        "inotcontains": lambda: or_(
            not_(column.icontains(value, autoescape=True)), column.is_(None)
        ),
    }
    if op not in comparisons:
        raise _bad(f"{op} is not supported")
    return cast(ColumnElement[bool], comparisons[op]())


def where(filters: FilterGroup | FilterCondition | None) -> ColumnElement[bool]:
    """The SQL condition ``filters`` stand for; a 400 for what cannot be searched."""
    count = 0

    def build(node: FilterGroup | FilterCondition, depth: int) -> ColumnElement[bool]:
        nonlocal count
        if depth > MAX_DEPTH:
            raise _bad(f"Filters nest at most {MAX_DEPTH} groups deep")
        if isinstance(node, FilterCondition):
            count += 1
            if count > MAX_CONDITIONS:
                raise _bad(f"A search takes at most {MAX_CONDITIONS} conditions")
            return _condition(node)
        parts: list[ColumnElement[bool]] = []
        if node.and_:
            parts.append(and_(*(build(n, depth + 1) for n in node.and_)))
        if node.or_:
            parts.append(or_(*(build(n, depth + 1) for n in node.or_)))
        return and_(*parts) if parts else true()

    return true() if filters is None else build(filters, 1)


def encode_cursor(row: RequestLogRow) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after_cursor(cursor: str) -> ColumnElement[bool]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, event_id = raw.split("|", 1)
        at = datetime.fromisoformat(created)
    except (ValueError, binascii.Error, UnicodeDecodeError) as e:
        raise InvalidRequest("Invalid cursor", param="cursor", code="invalid_cursor") from e
    c = RequestLogRow
    return or_(c.created_at < at, and_(c.created_at == at, c.id < event_id))


class EventSearch:
    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def _select(scope: Scope, condition: ColumnElement[bool]) -> Select[Any]:
        query = select(RequestLogRow).where(condition)
        if scope.workspace_id is not None:
            query = query.where(RequestLogRow.workspace_id == scope.workspace_id)
        return query.order_by(RequestLogRow.created_at.desc(), RequestLogRow.id.desc())

    def page(
        self,
        scope: Scope,
        condition: ColumnElement[bool],
        *,
        size: int,
        cursor: str | None = None,
    ) -> tuple[list[RequestLogRow], str | None]:
        """Up to ``size`` records, newest first, after ``cursor``; the next page's cursor,
        or None on the last page."""
        query = self._select(scope, condition)
        if cursor:
            query = query.where(_after_cursor(cursor))
        with self._db.session() as session:
            rows = list(session.scalars(query.limit(size + 1)).all())
        more = len(rows) > size
        rows = rows[:size]
        return rows, encode_cursor(rows[-1]) if more and rows else None

    def pages(
        self, scope: Scope, condition: ColumnElement[bool], *, limit: int, size: int = 1000
    ) -> Iterator[list[RequestLogRow]]:
        """Every record, newest first, ``size`` at a time, at most ``limit`` in all."""
        cursor: str | None = None
        left = limit
        while left > 0:
            rows, cursor = self.page(scope, condition, size=min(size, left), cursor=cursor)
            if rows:
                yield rows
            left -= len(rows)
            if cursor is None:
                return

    def ids(self, scope: Scope, condition: ColumnElement[bool], *, limit: int) -> list[str]:
        query = self._select(scope, condition).with_only_columns(RequestLogRow.id)
        with self._db.session() as session:
            return list(session.scalars(query.limit(limit)).all())

    def get(self, scope: Scope, event_id: str) -> RequestLogRow:
        with self._db.session() as session:
            row = session.get(RequestLogRow, event_id)
        if row is None or (
            scope.workspace_id is not None and row.workspace_id != scope.workspace_id
        ):
            raise NotFound("chat completion event", event_id)
        return row

    def options(self, scope: Scope, field: EventField) -> list[Any]:
        """The distinct values of ``field``, most frequent first."""
        return [value for value, _ in self.counts(scope, field, true())]

    def counts(
        self, scope: Scope, field: EventField, condition: ColumnElement[bool]
    ) -> Sequence[tuple[Any, int]]:
        """How many records hold each value of ``field`` among those ``condition`` keeps."""
        n = func.count().label("n")
        query = select(field.column, n).where(condition)
        if scope.workspace_id is not None:
            query = query.where(RequestLogRow.workspace_id == scope.workspace_id)
        query = query.group_by(field.column).order_by(n.desc(), field.column).limit(MAX_OPTIONS)
        with self._db.session() as session:
            return [(value, int(count)) for value, count in session.execute(query).all()]
