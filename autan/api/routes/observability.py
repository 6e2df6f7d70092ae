"""``/v1/observability/chat-completion-events`` and ``-fields``: the request log, searched as
Mistral's observability API defines it, and exported as CSV or JSON Lines.

A key sees its own workspace's requests; an admin key sees every workspace's. Records are
written by a thread of their own: each read first writes what is queued, so a request that
has ended is found.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from starlette.responses import StreamingResponse

from autan.api.deps import MeterDep, PlatformDep
from autan.errors import Forbidden, InvalidRequest, NotFound
from autan.observability.event_fields import FIELDS, GROUPS, EventField, field_values
from autan.observability.event_search import EventSearch, Scope, where
from autan.observability.request_log import RequestLog
from autan.observability.request_stats import (
    BUCKET_LENGTH,
    MAX_BUCKETS,
    Bucket,
    bucket_start,
)
from autan.platform import Platform
from autan.protocol.fields import Identifier, Name
from autan.protocol.observability import (
    BaseFieldDefinition,
    ChatCompletionEvent,
    ChatCompletionEventPreview,
    FeedResultChatCompletionEventPreview,
    FetchChatCompletionFieldOptionsResponse,
    FetchFieldOptionCountsRequest,
    FetchFieldOptionCountsResponse,
    FieldGroup,
    FieldOptionCountItem,
    FilterCondition,
    FilterGroup,
    ListChatCompletionFieldsResponse,
    Operator,
    RequestBucketPublic,
    RequestStatsPublic,
    SearchChatCompletionEventIdsRequest,
    SearchChatCompletionEventIdsResponse,
    SearchChatCompletionEventsRequest,
    SearchChatCompletionEventsResponse,
)
from autan.storage.request_log_tables import RequestLogRow
from autan.storage.tables import utcnow

router = APIRouter(tags=["observability"])
_EVENTS = "/v1/observability/chat-completion-events"
_FIELDS = "/v1/observability/chat-completion-fields"
_STATS = "/v1/observability/stats"
MAX_IDS = 10_000
MAX_EXPORT = 1_000_000
_Cursor = Annotated[str, Query(max_length=512)]


def _log(platform: Platform) -> RequestLog:
    log = platform.request_log
    if log is None:
        raise Forbidden("The request log is turned off on this server (AUTAN_REQUEST_LOG__ENABLED)")
    log.flush()
    return log


def _search(platform: Platform) -> EventSearch:
    return _log(platform).search


def _scope(meter: MeterDep) -> Scope:
    if meter is None or meter.key.is_admin:  # --no-auth: one workspace; admin: all of them
        return Scope(None)
    return Scope(meter.key.workspace_id)


def _extra(names: list[str] | None) -> tuple[str, ...]:
    for name in names or ():
        if name not in FIELDS:
            raise InvalidRequest(f"Unknown field {name!r}", param="extra_fields")
    return tuple(FIELDS) if names is None else tuple(names)


def _preview(row: RequestLogRow, extra: tuple[str, ...]) -> ChatCompletionEventPreview:
    return ChatCompletionEventPreview(
        event_id=row.id,
        correlation_id=row.request_id,
        created_at=row.created_at.replace(tzinfo=UTC),
        extra_fields=field_values(row, extra),
        nb_input_tokens=row.prompt_tokens,
        nb_output_tokens=row.completion_tokens,
    )


@router.post(f"{_EVENTS}/search", response_model=SearchChatCompletionEventsResponse)
def search_events(
    body: SearchChatCompletionEventsRequest,
    platform: PlatformDep,
    meter: MeterDep,
    page_size: Annotated[int, Query(ge=0, le=100)] = 50,
    cursor: _Cursor | None = None,
) -> SearchChatCompletionEventsResponse:
    """Requests matching ``search_params.filters``, newest first, ``page_size`` a page; pass
    the answer's ``cursor`` for the next page (``next`` is its URL)."""
    extra = _extra(body.extra_fields)
    condition = where(body.search_params.filters)
    rows, next_cursor = _search(platform).page(
        _scope(meter), condition, size=page_size, cursor=cursor
    )
    return SearchChatCompletionEventsResponse(
        completion_events=FeedResultChatCompletionEventPreview(
            results=[_preview(r, extra) for r in rows],
            cursor=next_cursor,
            next=(
                None
                if next_cursor is None
                else f"{_EVENTS}/search?page_size={page_size}&cursor={next_cursor}"
            ),
        )
    )


@router.post(f"{_EVENTS}/search-ids", response_model=SearchChatCompletionEventIdsResponse)
def search_event_ids(
    body: SearchChatCompletionEventIdsRequest, platform: PlatformDep, meter: MeterDep
) -> SearchChatCompletionEventIdsResponse:
    """The ids of the requests matching ``search_params.filters``, newest first (at most
    10,000)."""
    _extra(body.extra_fields)
    ids = _search(platform).ids(_scope(meter), where(body.search_params.filters), limit=MAX_IDS)
    return SearchChatCompletionEventIdsResponse(completion_event_ids=ids)


_CSV_COLUMNS = ("event_id", *FIELDS)


def _export_row(row: RequestLogRow) -> dict[str, Any]:
    values = field_values(row)
    values["created_at"] = row.created_at.replace(tzinfo=UTC).isoformat()
    return {"event_id": row.id, **values}


def _csv(pages: Iterator[list[RequestLogRow]]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.DictWriter(out, _CSV_COLUMNS)
    writer.writeheader()
    for rows in pages:
        for row in rows:
            writer.writerow(_export_row(row))
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def _jsonl(pages: Iterator[list[RequestLogRow]]) -> Iterator[str]:
    for rows in pages:
        lines = []
        for row in rows:
            record = _export_row(row)
            if row.request_messages is not None or row.response_messages is not None:
                record["request_messages"] = row.request_messages
                record["response_messages"] = row.response_messages
                record["tools"] = row.tools
            lines.append(json.dumps(record) + "\n")
        yield "".join(lines)


@router.get(f"{_EVENTS}/export")
def export_events(
    platform: PlatformDep,
    meter: MeterDep,
    format: Literal["csv", "jsonl"] = "jsonl",
    since: datetime | None = None,
    until: datetime | None = None,
    model: Name | None = None,
    key_id: Identifier | None = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    min_latency_ms: Annotated[float | None, Query(ge=0, le=1e9)] = None,
    max_latency_ms: Annotated[float | None, Query(ge=0, le=1e9)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EXPORT)] = 100_000,
) -> StreamingResponse:
    """The requests between ``since`` and ``until`` (ISO 8601), of one ``model``, ``key_id``
    or ``status``, within a latency range, newest first: CSV (no bodies) or JSON Lines
    (with the bodies that are kept)."""
    conditions: list[FilterGroup | FilterCondition] = []
    for name, op, value in (
        ("created_at", "gte", since),
        ("created_at", "lt", until),
        ("model", "eq", model),
        ("api_key_id", "eq", key_id),
        ("status", "eq", status),
        ("latency_ms", "gte", min_latency_ms),
        ("latency_ms", "lte", max_latency_ms),
    ):
        if value is not None:
            text = value.isoformat() if isinstance(value, datetime) else value
            conditions.append(FilterCondition(field=name, op=op, value=text))
    condition = where(FilterGroup(AND=conditions))
    pages = _search(platform).pages(_scope(meter), condition, limit=limit)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    if format == "csv":
        body, media = _csv(pages), "text/csv; charset=utf-8"
    else:
        body, media = _jsonl(pages), "application/x-ndjson"
    return StreamingResponse(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="requests-{stamp}.{format}"'},
    )


def _naive_utc(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


@router.get(_STATS, response_model=RequestStatsPublic)
def request_stats(
    platform: PlatformDep,
    meter: MeterDep,
    bucket: Bucket = "hour",
    start: datetime | None = None,
    end: datetime | None = None,
) -> RequestStatsPublic:
    """Requests, errors (status 400 and above), tokens, cost, and the median and 95th
    percentile latency and median time to first token, per ``bucket`` (``hour`` or ``day``,
    UTC) from ``start`` to ``end`` (ISO 8601; by default the 24 hours, or with ``day`` the 30
    days, up to now), summed in the database; at most 744 hours or 366 days. Buckets without
    a request are left out. A key sees its own workspace's requests, an admin key all."""
    log = _log(platform)
    length = BUCKET_LENGTH[bucket]
    last = _naive_utc(end) if end is not None else utcnow()
    first = (
        _naive_utc(start)
        if start is not None
        else bucket_start(last, bucket) - (length * (23 if bucket == "hour" else 29))
    )
    first = bucket_start(first, bucket)
    if last <= first:
        raise InvalidRequest(f"end {last.isoformat()} is not after start", param="end")
    if (last - first) > length * MAX_BUCKETS[bucket]:
        raise InvalidRequest(f"A range is at most {MAX_BUCKETS[bucket]} {bucket}s", param="start")
    stats = log.stats.buckets(_scope(meter), since=first, until=last, bucket=bucket)
    return RequestStatsPublic(
        start=first.replace(tzinfo=UTC),
        end=last.replace(tzinfo=UTC),
        bucket=bucket,
        data=[
            RequestBucketPublic(**{**asdict(s), "start": s.start.replace(tzinfo=UTC)})
            for s in stats
        ],
    )


@router.get(f"{_EVENTS}/{{event_id}}", response_model=ChatCompletionEvent)
def get_event(event_id: Identifier, platform: PlatformDep, meter: MeterDep) -> ChatCompletionEvent:
    """One request, with its messages, reply and tools where they are kept."""
    row = _search(platform).get(_scope(meter), event_id)
    preview = _preview(row, tuple(FIELDS))
    return ChatCompletionEvent(
        **dict(preview),
        enabled_tools=row.tools or [],
        request_messages=row.request_messages or [],
        response_messages=row.response_messages or [],
        nb_messages=row.nb_messages,
    )


@router.get(_FIELDS, response_model=ListChatCompletionFieldsResponse)
def list_fields(meter: MeterDep) -> ListChatCompletionFieldsResponse:
    """The fields events can be searched by, with their types and operators."""
    return ListChatCompletionFieldsResponse(
        field_definitions=[
            BaseFieldDefinition(
                name=f.name,
                label=f.label,
                type=f.type,
                group=f.group,
                supported_operators=list(f.operators),
            )
            for f in FIELDS.values()
        ],
        field_groups=[FieldGroup(name=n, label=label) for n, label in GROUPS],
    )


def _field(name: str) -> EventField:
    field = FIELDS.get(name)
    if field is None:
        raise NotFound("field", name)
    return field


def _option(value: Any) -> str | bool | None:
    return value if value is None or isinstance(value, bool | str) else str(value)


@router.get(
    f"{_FIELDS}/{{field_name}}/options", response_model=FetchChatCompletionFieldOptionsResponse
)
def field_options(
    field_name: Identifier, operator: Operator, platform: PlatformDep, meter: MeterDep
) -> FetchChatCompletionFieldOptionsResponse:
    """The values a field takes (most frequent first, at most 1,000); null for fields whose
    values are not a short list (times, latencies, free text)."""
    field = _field(field_name)
    if not field.has_options or operator not in field.operators:
        return FetchChatCompletionFieldOptionsResponse(options=None)
    values = _search(platform).options(_scope(meter), field)
    return FetchChatCompletionFieldOptionsResponse(options=[_option(v) for v in values])


@router.post(
    f"{_FIELDS}/{{field_name}}/options-counts", response_model=FetchFieldOptionCountsResponse
)
def field_option_counts(
    field_name: Identifier,
    body: FetchFieldOptionCountsRequest,
    platform: PlatformDep,
    meter: MeterDep,
) -> FetchFieldOptionCountsResponse:
    """How many requests (among those ``filter_params`` keep) hold each value of a field."""
    field = _field(field_name)
    if not field.has_options:
        raise InvalidRequest(
            f"{field.name} has no short list of values to count", param="field_name"
        )
    filters = None if body.filter_params is None else body.filter_params.filters
    counts = _search(platform).counts(_scope(meter), field, where(filters))
    return FetchFieldOptionCountsResponse(
        counts=[
            FieldOptionCountItem(
                value="null" if v is None else str(v).lower() if isinstance(v, bool) else str(v),
                count=n,
            )
            for v, n in counts
        ]
    )
