"""``python -m autan``: the same command line as the ``autan`` script."""

from autan.cli.main import app

app(prog_name="autan")
