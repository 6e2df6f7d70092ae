"""Entry point of the ``autan`` command."""

from __future__ import annotations

import typer

from autan.cli import jobs, keys, models
from autan.cli.backends import backends
from autan.cli.chat import chat
from autan.cli.serve import serve
from autan.cli.usage import usage

app = typer.Typer(help="autan: the Mistral API served from your own machine.", no_args_is_help=True)
app.command()(serve)
app.command()(chat)
app.add_typer(models.app, name="models")
app.add_typer(keys.app, name="keys")
app.add_typer(jobs.app, name="jobs")
app.command()(usage)
app.command()(backends)

if __name__ == "__main__":
    app()
