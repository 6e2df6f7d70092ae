from collections.abc import Iterator
from pathlib import Path

import pytest

from autan.storage.database import Database
from tests.databases import database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    for url in database_url(request.param, tmp_path):
        database = Database.open(url, tmp_path)
        try:
            yield database
        finally:
            database.close()
