"""``autan keys``: create, list, update and revoke API keys in the server's database.

These work on the database directly (the same ``--data-dir`` or ``AUTAN_DATABASE_URL`` as
``autan serve``), so they need no running server, and a change holds on every server from
its next request.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated

import typer

from autan.accounts.api_key import ApiKey
from autan.accounts.audit_log import Actor
from autan.accounts.key_store import KeyLimits, KeyStore
from autan.accounts.workspace_store import WorkspaceStore
from autan.cli.command_group import CommandLineError
from autan.cli.database_opener import open_database as open_database
from autan.cli.options import DataDirOpt
from autan.cli.table import Table

app = typer.Typer(help="API keys, in the database autan serve uses.", no_args_is_help=True)

KeyIdArg = Annotated[
    str,
    typer.Argument(
        metavar="KEY_ID", help="The key's id, or its first characters (see `autan keys list`)."
    ),
]
ModelsOpt = Annotated[
    list[str] | None,
    typer.Option("--model", help="A model the key may use (repeat); default: all."),
]
RpmOpt = Annotated[int | None, typer.Option("--rpm", min=1, help="Requests per minute.")]
TpmOpt = Annotated[int | None, typer.Option("--tpm", min=1, help="Tokens per minute.")]
ExpiresOpt = Annotated[
    datetime | None,
    typer.Option(
        "--expires",
        formats=["%Y-%m-%d"],
        metavar="YYYY-MM-DD",
        help="Expiry date (UTC): the key is refused from that day on.",
    ),
]


def _midnight(day: datetime | None) -> datetime | None:
    return datetime.combine(day.date(), time()) if day else None


def resolve_key_id(store: KeyStore, key_id: str) -> str:
    """The full id of the one key whose id starts with ``key_id``."""
    matches = [
        k.id for k in store.list(limit=100_000, include_revoked=True) if k.id.startswith(key_id)
    ]
    if key_id in matches:
        return key_id
    if not matches:
        raise CommandLineError(f"no key has an id starting with {key_id!r} (see `autan keys list`)")
    if len(matches) > 1:
        raise CommandLineError(
            f"{len(matches)} keys have an id starting with {key_id!r}: give more characters"
        )
    return matches[0]


@app.command("create")
def create(
    name: Annotated[str | None, typer.Option(help="A name to recognise the key by.")] = None,
    workspace: Annotated[
        str | None,
        typer.Option(help="Workspace id (default: the default workspace; see `autan workspaces`)."),
    ] = None,
    model: ModelsOpt = None,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    expires: ExpiresOpt = None,
    admin: Annotated[bool, typer.Option("--admin", help="An admin key (admin API).")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a key and print its secret: the only time it is shown."""
    db = open_database(data_dir, create=True)
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
            expires_at=_midnight(expires),
            is_admin=admin,
        )
    finally:
        db.close()
    typer.echo(f"key id  {key.id}")
    typer.echo(f"secret  {secret}")
    typer.echo("The secret is shown only now; store it somewhere safe.", err=True)


def _day(t: datetime | None) -> str:
    return t.date().isoformat() if t else "-"


def _state(key: ApiKey, today: datetime) -> str:
    if key.revoked_at:
        return "revoked"
    return "active" if key.usable_at(today) else "expired"


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
        table.add(
            k.id,
            (k.name or "-") + (" (admin)" if k.is_admin else ""),
            k.hidden_key,
            ",".join(k.models) if k.models is not None else "*",
            k.requests_per_minute or "-",
            k.tokens_per_minute or "-",
            _day(k.expires_at),
            _state(k, today),
        )
    typer.echo(table.render())


@app.command("update")
def update(
    key_id: KeyIdArg,
    model: ModelsOpt = None,
    all_models: Annotated[
        bool, typer.Option("--all-models", help="Let the key use every model again.")
    ] = False,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    no_rpm: Annotated[bool, typer.Option("--no-rpm", help="Remove the requests limit.")] = False,
    no_tpm: Annotated[bool, typer.Option("--no-tpm", help="Remove the tokens limit.")] = False,
    expires: ExpiresOpt = None,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="The key never expires.")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Change a key's models, limits or expiry; what is not given stays as it was."""
    if model and all_models:
        raise CommandLineError("--model and --all-models contradict each other")
    if (rpm and no_rpm) or (tpm and no_tpm) or (expires and no_expiry):
        raise CommandLineError("a value and its --no-... flag contradict each other")
    db = open_database(data_dir)
    try:
        store = KeyStore(db)
        key = store.get(resolve_key_id(store, key_id))
        actor = Actor.command_line()
        if model or all_models or rpm or tpm or no_rpm or no_tpm:
            models = None if all_models else (tuple(model) if model else key.models)
            key = store.set_limits(
                key.id,
                KeyLimits(
                    models=models,
                    requests_per_minute=None if no_rpm else (rpm or key.requests_per_minute),
                    tokens_per_minute=None if no_tpm else (tpm or key.tokens_per_minute),
                ),
                actor=actor,
            )
        if expires or no_expiry:
            key = store.set_expiry(key.id, _midnight(expires), actor=actor)
    finally:
        db.close()
    models_text = ",".join(key.models) if key.models is not None else "*"
    typer.echo(
        f"updated {key.id}: models {models_text}, rpm {key.requests_per_minute or '-'}, "
        f"tpm {key.tokens_per_minute or '-'}, expires {_day(key.expires_at)}"
    )


@app.command("revoke")
def revoke(key_id: KeyIdArg, data_dir: DataDirOpt = None) -> None:
    """Revoke a key; servers refuse it from their next request on."""
    db = open_database(data_dir)
    try:
        store = KeyStore(db)
        key = store.revoke(resolve_key_id(store, key_id), actor=Actor.command_line())
    finally:
        db.close()
    typer.echo(f"revoked {key.id} ({key.name or key.hidden_key})")
