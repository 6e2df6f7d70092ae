"""``autan usage``: requests, tokens and cost by day, model, key and kind, from the daily
rollups in the server's database."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Annotated

import typer

from autan.accounts.key_store import KeyStore
from autan.accounts.usage_rollup import RollupLine, UsageRollups
from autan.cli.keys import open_database
from autan.cli.options import DataDirOpt, build_settings
from autan.cli.table import Table


def kind_of(line: RollupLine) -> str:
    """interactive or batch for inference (chat, FIM, embeddings), else management."""
    if not line.inference:
        return "management"
    return "batch" if line.batch else "interactive"


def usage(
    month: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m"], help="Only this month, YYYY-MM (default: all)."),
    ] = None,
    key: Annotated[str | None, typer.Option(help="Only this key id.")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Usage by day, model, key and kind (interactive, batch, management calls), with cost
    in AUTAN_ACCOUNTS__CURRENCY. ``requests`` counts answered requests, ``errors`` those
    refused or failed; a server writes each record before its answer ends."""
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
        lines = UsageRollups(db).lines(since=since, until=until, key_id=key)
        names = {
            k.id: k.name or k.hidden_key
            for k in KeyStore(db).list(limit=100_000, include_revoked=True)
        }
    finally:
        db.close()
    table = Table(
        "day", "model", "key", "kind", "requests", "errors", "prompt", "completion",
        f"cost ({currency})",
    )  # fmt: skip
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    for line in lines:
        kind = kind_of(line)
        table.add(
            line.day.isoformat(),
            line.model or "-",
            names.get(line.key_id, line.key_id),
            kind,
            line.requests,
            line.errors,
            line.prompt_tokens,
            line.completion_tokens,
            line.cost,
        )
        t = totals[kind]
        for i, value in enumerate(
            (line.requests, line.errors, line.prompt_tokens, line.completion_tokens, line.cost)
        ):
            t[i] += value
    for kind in ("interactive", "batch", "management"):
        t = totals[kind]
        table.add("total", "", "", kind, int(t[0]), int(t[1]), int(t[2]), int(t[3]), float(t[4]))
    typer.echo(table.render())
    cost = sum(t[4] for t in totals.values())
    typer.echo(f"\nTotal cost: {cost:.6f} {currency}")
