"""The database: a SQLite file in the data directory, or PostgreSQL by URL; migrated at open."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constants work: they only have to be the same in every autan process sharing a database.
_MIGRATION_LOCK = 0x6175_7461_6E
_LOCKS = {"bootstrap": 0x6175_7461_6F}


def database_url(url: str | None, data_dir: Path) -> str:
    """The SQLAlchemy URL to use: the one given (``postgresql://`` gets the psycopg driver), or
    ``autan.db`` in ``data_dir``."""
    if url is None:
        return f"sqlite:///{data_dir / 'autan.db'}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets `autan keys` write while a server reads; busy_timeout waits out the other writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """One SQLAlchemy engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | None, data_dir: Path) -> Database:
        """Connect and bring the schema to the newest migration. A new SQLite file is made
        0600 (SQLite gives its WAL and shared-memory files the same mode), in a data
        directory made 0700: prompts, keys' hashes and usage are the owner's alone."""
        if url is None:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            # An empty file is an empty SQLite database.
            os.close(os.open(data_dir / "autan.db", os.O_WRONLY | os.O_CREAT, 0o600))
        db = cls(database_url(url, data_dir))
        db.migrate()
        return db

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Apply every Alembic migration not yet applied. On PostgreSQL an advisory lock makes
        processes that start together take turns."""
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        log.debug("database %s is at the newest migration", self.engine.url.render_as_string())

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Only one process at a time runs the block, on PostgreSQL (a session advisory lock).
        On SQLite it runs as is: a SQLite file is shared by processes on one machine, which
        start one by one."""
        if self.dialect != "postgresql":
            yield
            return
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCKS[name]})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCKS[name]})
                connection.commit()

    def session(self) -> Session:
        return self._sessions()

    def close(self) -> None:
        self.engine.dispose()
