"""``autan workspaces``: create, list and archive the workspaces keys belong to, in the
database ``autan serve`` uses."""

from __future__ import annotations

from typing import Annotated

import typer

from autan.accounts.audit_log import Actor
from autan.accounts.workspace_store import WorkspaceStore
from autan.cli.command_group import CommandLineError
from autan.cli.database_opener import open_database
from autan.cli.options import DataDirOpt
from autan.cli.table import Table

app = typer.Typer(
    help="Workspaces: what keys belong to and monthly spend is limited by.", no_args_is_help=True
)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The workspace's name.")],
    description: Annotated[str, typer.Option(help="What it is for.")] = "",
    data_dir: DataDirOpt = None,
) -> None:
    """Create a workspace; give its id to `autan keys create --workspace`."""
    db = open_database(data_dir, create=True)
    try:
        store = WorkspaceStore(db)
        store.default()  # the default one exists before any other
        workspace = store.create(name, actor=Actor.command_line(), description=description)
    finally:
        db.close()
    typer.echo(f"created {workspace.id} ({workspace.name})")


@app.command("list")
def list_workspaces(
    archived: Annotated[
        bool, typer.Option("--archived", help="List archived ones instead.")
    ] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """List workspaces: id, name, default, spend limit, created."""
    db = open_database(data_dir)
    try:
        _, workspaces = WorkspaceStore(db).page(
            archived=archived, page=1, page_size=100_000, search=None
        )
    finally:
        db.close()
    table = Table("id", "name", "default", "spend limit", "created")
    for w in workspaces:
        table.add(
            w.id,
            w.name,
            "yes" if w.is_default else "",
            w.spend_limit if w.spend_limit is not None else "-",
            f"{w.created_at:%Y-%m-%d}",
        )
    typer.echo(table.render())


@app.command("archive")
def archive(
    workspace_id: Annotated[
        str, typer.Argument(metavar="WORKSPACE_ID", help="Its id, or its first characters.")
    ],
    data_dir: DataDirOpt = None,
) -> None:
    """Archive a workspace: its keys are refused from the next request on."""
    db = open_database(data_dir)
    try:
        store = WorkspaceStore(db)
        _, every = store.page(archived=False, page=1, page_size=100_000, search=None)
        matches = [w.id for w in every if w.id.startswith(workspace_id)]
        if workspace_id not in matches and len(matches) != 1:
            raise CommandLineError(
                f"no active workspace has an id starting with {workspace_id!r}"
                if not matches
                else f"{len(matches)} workspaces have an id starting with {workspace_id!r}"
            )
        target = workspace_id if workspace_id in matches else matches[0]
        workspace = store.update(target, actor=Actor.command_line(), archived=True)
    finally:
        db.close()
    typer.echo(f"archived {workspace.id} ({workspace.name})")
