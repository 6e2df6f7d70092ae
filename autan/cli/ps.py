"""``autan ps``: what a running server has loaded, like ``ollama ps``."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer

from autan.cli.command_group import fail
from autan.cli.table import Table

DEFAULT_URL = "http://127.0.0.1:8000"


def size(n: float) -> str:
    """Bytes for a person: 161.3 MiB."""
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            break
    return f"{n:.1f} {unit}"


def _row(model: dict[str, Any]) -> tuple[object, ...]:
    loaded = model["state"] == "loaded"
    return (
        model["id"],
        model["state"],
        size(model["memory_bytes"]),
        model.get("context", "-"),
        f"{model['running']}/{model['slots']}" if loaded else "-",
        model["waiting"] if loaded else "-",
        model["requests"],
    )


def ps(
    url: Annotated[
        str,
        typer.Option(envvar="AUTAN_URL", help="The server to ask."),
    ] = DEFAULT_URL,
) -> None:
    """Models a running server holds: memory, context, slots busy, queue, and the embedding
    model."""
    try:
        r = httpx.get(f"{url.rstrip('/')}/health", timeout=10)
    except httpx.HTTPError as e:
        raise fail(f"cannot reach {url}: {e}. Is `autan serve` running?") from e
    if r.status_code != 200:
        raise fail(f"{url} answered {r.status_code}: {r.text[:300]}")
    health = r.json()
    table = Table("model", "state", "memory", "context", "busy/slots", "queued", "requests")
    for model in health["models"]:
        table.add(*_row(model))
    typer.echo(table.render())
    typer.echo(
        f"\nmemory: {size(health['loaded_memory_bytes'])} loaded of "
        f"{size(health['max_loaded_memory_bytes'])} allowed (--max-loaded-memory)"
    )
    deployments = health.get("deployments") or []
    if deployments:
        typer.echo(f"routed deployments: {len(deployments)} (`autan backends` shows them)")
    embeddings = health.get("embeddings")
    if embeddings:
        aliases = f" ({', '.join(embeddings['aliases'])})" if embeddings["aliases"] else ""
        typer.echo(f"embeddings: {embeddings['id']}{aliases}")
    else:
        typer.echo("embeddings: none served")
