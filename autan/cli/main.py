"""Entry point of the ``autan`` command."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from autan.cli import jobs, keys, models, workspaces
from autan.cli.chat import chat
from autan.cli.command_group import AutanGroup
from autan.cli.serve import serve
from autan.cli.usage import usage

app = typer.Typer(
    cls=AutanGroup,
    help="autan: the Mistral API served from your own machine.",
    no_args_is_help=True,
    # A traceback that shows local variables could print an API key: never show them.
    pretty_exceptions_show_locals=False,
)


def _version() -> str:
    try:
        return version("autan")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"autan {_version()}")
        raise typer.Exit()


@app.callback()
def main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print autan's version and exit.",
        ),
    ] = False,
) -> None:
    """autan: the Mistral API served from your own machine.

    Start with `autan serve`, then `autan chat` in another terminal.
    """


app.command()(serve)
app.command()(chat)
app.add_typer(models.app, name="models")
app.add_typer(keys.app, name="keys")
app.add_typer(workspaces.app, name="workspaces")
app.add_typer(jobs.app, name="jobs")
app.command()(usage)

if __name__ == "__main__":
    app()
