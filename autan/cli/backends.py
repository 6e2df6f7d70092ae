"""``autan backends``: each routed deployment of a running server, its state, load and last
error."""

from __future__ import annotations

import time
from typing import Annotated

import httpx
import typer

from autan.cli.table import Table


def backends(
    url: Annotated[
        str, typer.Option(help="The running server.", envvar="AUTAN_URL")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Show each routed deployment: healthy, cooling (after failures) or probing (waiting
    for a health probe to take it back), its requests in flight and its last error."""
    try:
        r = httpx.get(f"{url.rstrip('/')}/health", timeout=10)
    except httpx.HTTPError as e:
        typer.echo(f"error: cannot reach {url}: {e}. Is `autan serve` running?", err=True)
        raise typer.Exit(1) from e
    if r.status_code != 200:
        typer.echo(f"error: {url}/health answered {r.status_code}: {r.text[:300]}", err=True)
        raise typer.Exit(1)
    deployments = r.json().get("deployments") or []
    if not deployments:
        typer.echo("no routed models: every model is served by this server's engine")
        return
    table = Table("MODEL", "DEPLOYMENT", "STATE", "IN FLIGHT", "WEIGHT", "FAILURES", "LAST ERROR")
    for d in deployments:
        limit = d.get("max_concurrent")
        error = d.get("last_error") or "-"
        if d.get("last_error_at"):
            error = f"{int(time.time() - d['last_error_at'])} s ago: {error}"
        state = d["state"]
        if state == "cooling":
            state += f" ({d['cooldown_seconds']:.0f} s)"
        table.add(
            d["model"],
            d["deployment"],
            state,
            f"{d['outstanding']}/{limit}" if limit else str(d["outstanding"]),
            f"{d['weight']:g}",
            d["failures"],
            error[:80],
        )
    typer.echo(table.render())
