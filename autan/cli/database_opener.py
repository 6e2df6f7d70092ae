"""The database of a data dir, as the commands that work without a server open it."""

from __future__ import annotations

from pathlib import Path

from autan.cli.command_group import CommandLineError
from autan.cli.options import build_settings
from autan.storage.database import Database

_SQLITE_FILE = "autan.db"


def open_database(data_dir: Path | None, *, create: bool = False) -> Database:
    """The database ``autan serve --data-dir DATA_DIR`` uses (or ``AUTAN_DATABASE_URL``).

    Unless ``create``, a data dir that holds no database is a mistake (a mistyped path):
    it is refused, not silently created by a command that only reads.
    """
    settings = build_settings(data_dir=data_dir)
    if settings.database_url is None and not create:
        if not settings.data_dir.is_dir():
            raise CommandLineError(
                f"no data dir at {settings.data_dir}: check --data-dir (or AUTAN_DATA_DIR); "
                "`autan serve` makes it on its first start"
            )
        if not (settings.data_dir / _SQLITE_FILE).is_file():
            raise CommandLineError(
                f"{settings.data_dir} holds no autan database ({_SQLITE_FILE}): check --data-dir "
                "(or AUTAN_DATA_DIR)"
            )
    return Database.open(settings.database_url, settings.data_dir)
