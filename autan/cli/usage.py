"""``autan usage``: tokens and cost by day, model and key, from the server's database."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from autan.accounts.key_store import KeyStore
from autan.accounts.usage_ledger import UsageLedger
from autan.cli.keys import open_database
from autan.cli.options import DataDirOpt, build_settings
from autan.cli.table import Table


def usage(
    month: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m"], help="Only this month, YYYY-MM (default: all)."),
    ] = None,
    key: Annotated[str | None, typer.Option(help="Only this key id.")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Usage by day, model and key, with cost (in AUTAN_ACCOUNTS__CURRENCY); a server writes
    each record before its answer ends."""
    currency = build_settings(data_dir=data_dir).accounts.currency
    db = open_database(data_dir)
    try:
        since = until = None
        if month is not None:
            since = month
            until = (
                month.replace(year=month.year + 1, month=1)
                if month.month == 12
                else (month.replace(month=month.month + 1))
            )
        lines = UsageLedger(db).lines(since=since, until=until, key_id=key)
        names = {
            k.id: k.name or k.hidden_key
            for k in KeyStore(db).list(limit=100_000, include_revoked=True)
        }
    finally:
        db.close()
    table = Table("day", "model", "key", "requests", "prompt", "completion", f"cost ({currency})")
    for line in lines:
        table.add(
            line.day.isoformat(),
            line.model or "-",
            names.get(line.key_id, line.key_id),
            line.requests,
            line.prompt_tokens,
            line.completion_tokens,
            line.cost,
        )
    table.add(
        "total",
        "",
        "",
        sum(ln.requests for ln in lines),
        sum(ln.prompt_tokens for ln in lines),
        sum(ln.completion_tokens for ln in lines),
        float(sum(ln.cost for ln in lines)),
    )
    typer.echo(table.render())
