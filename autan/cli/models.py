"""``autan models``."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer

app = typer.Typer(help="Models served by a running autan.", no_args_is_help=True)


@app.command("list")
def list_models(
    url: Annotated[str, typer.Option(help="The server to ask.")] = "http://127.0.0.1:8000",
    api_key: Annotated[str | None, typer.Option(envvar="MISTRAL_API_KEY")] = None,
) -> None:
    """List the served models with their aliases and context length."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        r = httpx.get(f"{url.rstrip('/')}/v1/models", headers=headers, timeout=10)
    except httpx.HTTPError as e:
        typer.echo(f"cannot reach {url}: {e}. Is `autan serve` running?", err=True)
        raise typer.Exit(1) from e
    if r.status_code != 200:
        typer.echo(f"{url} answered {r.status_code}: {r.text}", err=True)
        raise typer.Exit(1)
    for card in r.json()["data"]:
        aliases = ", ".join(card.get("aliases") or []) or "-"
        typer.echo(f"{card['id']}\tcontext {card.get('max_context_length')}\taliases: {aliases}")
