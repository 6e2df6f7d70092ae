"""Entry point of the ``autan`` command."""

from __future__ import annotations

from typing import Annotated

import typer

from autan import __version__
from autan.cli import batch, files, fine_tuning, jobs, keys, models, workspaces
from autan.cli.backends import backends
from autan.cli.chat import chat
from autan.cli.command_group import AutanGroup
from autan.cli.ps import ps
from autan.cli.pull import pull
from autan.cli.serve import serve
from autan.cli.usage import usage
from autan.cli.worker import worker

app = typer.Typer(
    cls=AutanGroup,
    help="autan: the Mistral API served from your own machine.",
    no_args_is_help=True,
    # A traceback that shows local variables could print an API key: never show them.
    pretty_exceptions_show_locals=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"autan {__version__}")
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
app.command()(worker)
app.command()(chat)
app.command()(ps)
app.command()(pull)
app.add_typer(models.app, name="models")
app.add_typer(keys.app, name="keys")
app.add_typer(workspaces.app, name="workspaces")
app.add_typer(files.app, name="files")
app.add_typer(batch.app, name="batch")
app.add_typer(fine_tuning.app, name="fine-tuning")
app.add_typer(jobs.app, name="jobs")
app.command()(usage)
app.command()(backends)

if __name__ == "__main__":
    app()
