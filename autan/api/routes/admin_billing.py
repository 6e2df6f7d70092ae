"""``/v1/admin/rate-limit``, ``/v1/admin/spend-limit``, ``/v1/admin/usage`` and its summary.

Every route is a plain function: FastAPI runs it on its thread pool, so the database reads and
writes never hold the event loop.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from autan.accounts.accounts import Accounts
from autan.accounts.audit_log import Actor
from autan.accounts.prices import currency_symbol
from autan.accounts.usage_rollup import RollupLine
from autan.accounts.workspace import Workspace
from autan.api.deps import AccountsDep, AdminKeyDep, KeyDep, RegistryDep
from autan.errors import Forbidden, InvalidRequest
from autan.protocol.admin import (
    LimitsContextPublic,
    LimitsPublic,
    ModelUsagePublic,
    RateLimitsPublic,
    RequestCountsPublic,
    SpendLimitUpdate,
    TokenLimitsByModel,
    UsageDimension,
    UsageLimitsPublic,
    UsagePublic,
    UsageSummaryPublic,
)
from autan.protocol.fields import Identifier
from autan.storage.tables import utcnow

router = APIRouter(tags=["admin"])
# Usage cannot predate the epoch; a month's neighbours must be dates too.
_FIRST_YEAR, _LAST_YEAR = 1970, 9998
# The longest date range one usage answer covers: ten years of days.
_MAX_RANGE_DAYS = 3660


def _month(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1)
    end = datetime(year + 1, 1, 1) if month == 12 else datetime(year, month + 1, 1)
    return start, end


@router.get("/v1/admin/rate-limit", response_model=RateLimitsPublic)
def rate_limits(
    accounts: AccountsDep,
    admin: AdminKeyDep,
    registry: RegistryDep,
    key_id: Identifier | None = None,
) -> RateLimitsPublic:
    """The limits of the calling key, or of ``key_id``: the key's own, else the server's
    defaults. ``requests_per_minute`` and ``tokens_per_minute`` are null for no limit; the
    spec's integer fields say 0 then (a limit is never 0: keys are created with at least 1)."""
    key = accounts.keys.get(key_id) if key_id else admin
    rpm = key.requests_per_minute or accounts.settings.default_requests_per_minute
    tpm = key.tokens_per_minute or accounts.settings.default_tokens_per_minute
    models = [m.card.id for m in registry if key.allows(m.card.id, *m.card.aliases)]
    return RateLimitsPublic(
        # Rounded up: a limit under 60 a minute still allows a request in some second.
        requests_per_second=-(-rpm // 60) if rpm else 0,
        tokens_limits_by_model={
            m: TokenLimitsByModel(tokens_per_minute=tpm or 0, tokens_per_month=0) for m in models
        },
        requests_per_minute=rpm,
        tokens_per_minute=tpm,
    )


def _limits(accounts: Accounts, workspace: Workspace) -> LimitsPublic:
    accounts.usage.flush()
    start, _ = _month(*_year_month(utcnow()))
    spent = accounts.usage.spent(workspace.id, start)
    limit = workspace.spend_limit
    return LimitsPublic(
        limits=LimitsContextPublic(
            completion=UsageLimitsPublic(
                no_monthly_limit=limit is None,
                monthly_limit_reached=limit is not None and spent >= limit,
                usage=spent,
                total_usage=spent,
                usage_limit=limit,
            ),
            currency=accounts.settings.currency,
        )
    )


def _year_month(t: datetime) -> tuple[int, int]:
    return t.year, t.month


@router.get("/v1/admin/spend-limit", response_model=LimitsPublic)
def spend_limit(
    accounts: AccountsDep, caller: KeyDep, workspace_id: Identifier | None = None
) -> LimitsPublic:
    """This month's spend and the monthly limit of the caller's workspace (or, for an admin
    key, ``workspace_id``; any other key gets 403 for another workspace)."""
    if workspace_id and workspace_id != caller.workspace_id and not caller.is_admin:
        raise Forbidden("Only an admin key may read another workspace's spend")
    return _limits(accounts, accounts.workspaces.get(workspace_id or caller.workspace_id))


@router.post("/v1/admin/spend-limit", response_model=LimitsPublic)
def update_spend_limit(
    body: SpendLimitUpdate, accounts: AccountsDep, admin: AdminKeyDep
) -> LimitsPublic:
    """Set (``amount``, in the server's currency: ``currency`` in the answer; decimals
    allowed) or remove (``no_monthly_limit``) a workspace's monthly spend limit."""
    currency = accounts.settings.currency
    if body.currency is not None and body.currency != currency:
        raise InvalidRequest(
            f"This server's amounts are in {currency}, not {body.currency}", param="currency"
        )
    if body.amount is None and not body.no_monthly_limit:
        raise InvalidRequest(
            f"amount (the monthly limit in {currency}) is required unless no_monthly_limit is true",
            param="amount",
        )
    workspace = accounts.workspaces.set_spend_limit(
        body.workspace_id or admin.workspace_id,
        None if body.no_monthly_limit else body.amount,
        actor=Actor.key(admin.id),
    )
    return _limits(accounts, workspace)


def _model_usage(lines: list[RollupLine]) -> ModelUsagePublic:
    """Inference usage by model; an entry per day, key and kind (``batch`` true or false),
    ``requests`` counting the answered ones and ``errors`` the others."""
    models: dict[str, dict[str, list[dict[str, object]]]] = {}
    for line in lines:
        if not line.inference or not line.model:
            continue
        entry = {
            "date": line.day.isoformat(),
            "api_key_id": line.key_id,
            "workspace_id": line.workspace_id,
            "batch": line.batch,
        }
        by_kind = models.setdefault(line.model, {"input": [], "output": []})
        by_kind["input"].append(
            {**entry, "requests": line.requests, "errors": line.errors, "value": line.prompt_tokens}
        )
        by_kind["output"].append({**entry, "value": line.completion_tokens, "cost": line.cost})
    return ModelUsagePublic(models=models)


def _request_counts(lines: list[RollupLine]) -> RequestCountsPublic:
    counts = RequestCountsPublic()
    for line in lines:
        kind = "management" if not line.inference else "batch" if line.batch else "interactive"
        setattr(counts, kind, getattr(counts, kind) + line.requests)
        counts.errors += line.errors
    return counts


# A plain function: FastAPI runs it on its thread pool, so a long range read from the database
# and built into its answer never holds the event loop.
@router.get("/v1/admin/usage", response_model=UsagePublic)
def usage(
    accounts: AccountsDep,
    _admin: AdminKeyDep,
    month: str | None = None,
    year: str | None = None,
    workspace_id: Identifier | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
) -> UsagePublic:
    """Tokens and cost for one month (this one by default, ``year`` from 1970 to 9998), or
    from ``start_date`` to ``end_date`` (days, UTC, both included; at most 3,660 days; either
    one alone runs to today or from the first of its month), by model, day, key, workspace and
    batch or interactive, read from the daily rollups; ``requests`` counts inference requests
    apart from management calls and errors, ``currency`` says what costs are in. Requests
    still buffered are written first, so the answer is complete."""
    now = utcnow()
    if start_date is not None or end_date is not None:
        start, end = _range(start_date, end_date, now.date())
        previous_month = next_month = None
    else:
        start, end = _month(*_year_month_of(year, month, now))
        previous = (
            _month(start.year - 1, 12)[0]
            if start.month == 1
            else _month(start.year, start.month - 1)[0]
        )
        previous_month, next_month = f"{previous:%Y-%m}", f"{end:%Y-%m}"
    accounts.usage.flush()
    lines = accounts.usage.rollups.lines(since=start, until=end, workspace_id=workspace_id)
    by_model = _model_usage(lines)
    return UsagePublic(
        completion=by_model,
        chat=by_model,
        date=now.replace(tzinfo=UTC),
        previous_month=previous_month,
        next_month=next_month,
        start_date=start.replace(tzinfo=UTC),
        end_date=end.replace(tzinfo=UTC),
        currency=accounts.settings.currency,
        currency_symbol=currency_symbol(accounts.settings.currency),
        total_cost=sum(line.cost for line in lines),
        total_prompt_tokens=sum(line.prompt_tokens for line in lines),
        total_completion_tokens=sum(line.completion_tokens for line in lines),
        requests=_request_counts(lines),
    )


def _year_month_of(year: str | None, month: str | None, now: datetime) -> tuple[int, int]:
    try:
        y, m = int(year or now.year), int(month or now.month)
    except ValueError as e:
        raise InvalidRequest(f"Invalid month or year: {e}", param="month") from e
    if not 1 <= m <= 12:
        raise InvalidRequest(f"month must be from 1 to 12, not {m}", param="month")
    if not _FIRST_YEAR <= y <= _LAST_YEAR:
        raise InvalidRequest(
            f"year must be from {_FIRST_YEAR} to {_LAST_YEAR}, not {y}", param="year"
        )
    return y, m


def _range(first: date | None, last: date | None, today: date) -> tuple[datetime, datetime]:
    """``[start, end)`` covering the days ``first`` to ``last``, both included."""
    last = last or today
    first = first or last.replace(day=1)
    if last < first:
        raise InvalidRequest(f"end_date {last} is before start_date {first}", param="end_date")
    if (last - first).days >= _MAX_RANGE_DAYS:
        raise InvalidRequest(
            f"A usage range is at most {_MAX_RANGE_DAYS} days, not {(last - first).days + 1}",
            param="start_date",
        )
    if last.year > _LAST_YEAR:
        raise InvalidRequest(f"end_date must be before {_LAST_YEAR + 1}", param="end_date")
    return datetime.combine(first, time()), datetime.combine(last + timedelta(days=1), time())


# A plain function too, for the same reason (a year's export is tens of thousands of lines).
@router.get(
    "/v1/admin/usage/summary",
    response_model=UsageSummaryPublic,
    response_model_exclude_none=True,
)
def usage_summary(
    accounts: AccountsDep,
    _admin: AdminKeyDep,
    group_by: Annotated[list[UsageDimension] | None, Query(max_length=5)] = None,
    start_date: date | None = None,
    end_date: date | None = None,
    workspace_id: Identifier | None = None,
) -> Response:
    """Requests, errors, tokens and cost from ``start_date`` to ``end_date`` (UTC days, both
    included, at most 3,660; by default this month to today), summed in the database by each
    ``group_by`` given (repeat it): ``day``, ``model``, ``key``, ``workspace``, ``kind``
    (``interactive``, ``batch`` or ``management``); none: one line of totals. What the
    console's Overview and Usage pages read: a year of rollups answers in a few hundred
    lines."""
    now = utcnow()
    start, end = _range(start_date, end_date, now.date())
    dimensions = list(dict.fromkeys(group_by or []))
    accounts.usage.flush()
    lines = accounts.usage.rollups.summary(
        since=start, until=end, group_by=dimensions, workspace_id=workspace_id
    )
    # Written straight to JSON: a year's export by all five dimensions is tens of thousands of
    # lines, which pydantic would build and check twice; the shape is UsageSummaryPublic's.
    names = (
        ("date", "day"),
        ("model", "model"),
        ("api_key_id", "key_id"),
        ("workspace_id", "workspace_id"),
        ("kind", "kind"),
    )
    data = []
    for line in lines:
        item: dict[str, object] = {
            wire: getattr(line, field) for wire, field in names if getattr(line, field) is not None
        }
        if line.day is not None:
            item["date"] = line.day.isoformat()
        item.update(
            requests=line.requests,
            errors=line.errors,
            prompt_tokens=line.prompt_tokens,
            completion_tokens=line.completion_tokens,
            cost=line.cost,
        )
        data.append(item)
    answer = {
        "object": "usage.summary",
        "start_date": start.date().isoformat(),
        "end_date": (end - timedelta(days=1)).date().isoformat(),
        "group_by": dimensions,
        "currency": accounts.settings.currency,
        "currency_symbol": currency_symbol(accounts.settings.currency),
        "data": data,
    }
    return Response(json.dumps(answer, separators=(",", ":")), media_type="application/json")
