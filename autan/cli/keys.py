"""``autan keys``: create, list and revoke API keys in the server's database.

These work on the database directly (the same ``--data-dir`` or ``AUTAN_DATABASE_URL`` as
``autan serve``), so they need no running server, and a revocation holds on every server from
its next request.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated

import typer

from autan.accounts.audit_log import Actor
from autan.accounts.key_store import KeyLimits, KeyStore
from autan.accounts.workspace_store import WorkspaceStore
from autan.cli.options import DataDirOpt, build_settings
from autan.cli.table import Table
from autan.errors import AutanError
from autan.storage.database import Database

app = typer.Typer(help="API keys, in the database autan serve uses.", no_args_is_help=True)


def open_database(data_dir: DataDirOpt) -> Database:
    settings = build_settings(data_dir=data_dir)
    return Database.open(settings.database_url, settings.data_dir)


@app.command("create")
def create(
    name: Annotated[str | None, typer.Option(help="A name to recognise the key by.")] = None,
    workspace: Annotated[
        str | None, typer.Option(help="Workspace id (default: the default workspace).")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option(help="A model the key may use (repeat); default: all.")
    ] = None,
    rpm: Annotated[int | None, typer.Option(min=1, help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option(min=1, help="Tokens per minute.")] = None,
    expires: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Expiry date (UTC), YYYY-MM-DD.")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An admin key (admin API).")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a key and print its secret: the only time it is shown."""
    db = open_database(data_dir)
    try:
        workspace_id = workspace or WorkspaceStore(db).default().id
        key, secret = KeyStore(db).create(
            workspace_id=workspace_id,
            actor=Actor.command_line(),
            name=name,
            limits=KeyLimits(
                models=tuple(model) if model else None,
                requests_per_minute=rpm,
                tokens_per_minute=tpm,
            ),
            expires_at=datetime.combine(expires.date(), time()) if expires else None,
            is_admin=admin,
        )
    except AutanError as e:  # an expiry in the past, an unknown or archived workspace
        typer.echo(f"error: {e.message}", err=True)
        raise typer.Exit(1) from e
    finally:
        db.close()
    typer.echo(f"key id  {key.id}")
    typer.echo(f"secret  {secret}")
    typer.echo("The secret is shown only now; store it somewhere safe.", err=True)


def _day(t: datetime | None) -> str:
    return t.date().isoformat() if t else "-"


@app.command("list")
def list_keys(
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """List keys: id, name, visible prefix, limits, expiry and state."""
    db = open_database(data_dir)
    try:
        keys = KeyStore(db).list(limit=100_000, include_revoked=all_keys)
    finally:
        db.close()
    today = datetime.combine(date.today(), time())
    table = Table("id", "name", "key", "models", "rpm", "tpm", "expires", "state")
    for k in keys:
        state = "revoked" if k.revoked_at else ("expired" if not k.usable_at(today) else "active")
        table.add(
            k.id,
            (k.name or "-") + (" (admin)" if k.is_admin else ""),
            k.hidden_key,
            ",".join(k.models) if k.models is not None else "*",
            k.requests_per_minute or "-",
            k.tokens_per_minute or "-",
            _day(k.expires_at),
            state,
        )
    typer.echo(table.render())


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `autan keys list`).")],
    data_dir: DataDirOpt = None,
) -> None:
    """Revoke a key; servers refuse it from their next request on."""
    db = open_database(data_dir)
    try:
        key = KeyStore(db).revoke(key_id, actor=Actor.command_line())
    except AutanError as e:  # an unknown key, the last admin key
        typer.echo(f"error: {e.message}", err=True)
        raise typer.Exit(1) from e
    finally:
        db.close()
    typer.echo(f"revoked {key.id} ({key.name or key.hidden_key})")
