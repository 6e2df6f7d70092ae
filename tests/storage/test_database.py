import os
import stat
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from autan.storage import database
from autan.storage.database import Database, database_url


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(Path(database.__file__).parent / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None, "the migrations have one head"
    return head


def test_migrations_create_every_table_and_run_again_as_a_no_op(db: Database) -> None:
    db.migrate()
    tables = set(inspect(db.engine).get_table_names())
    assert {"workspaces", "api_keys", "usage_records", "audit_logs", "alembic_version"} <= tables
    assert {"files", "jobs", "batch_lines"} <= tables
    assert {"fine_tuning_events", "fine_tuning_checkpoints", "fine_tuned_models"} <= tables
    assert {"blobs", "blob_chunks"} <= tables
    assert "fine_tuning_jobs" not in tables  # fine-tuning jobs are rows of jobs
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == _head()


def test_default_url_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    assert database_url(None, tmp_path) == f"sqlite:///{tmp_path / 'autan.db'}"
    db = Database.open(None, tmp_path / "new")
    db.close()
    assert (tmp_path / "new" / "autan.db").exists()


def test_plain_postgresql_urls_get_the_psycopg_driver(tmp_path: Path) -> None:
    assert database_url("postgresql://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"
    assert database_url("postgres://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"


def test_a_new_sqlite_database_and_its_directory_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        db = Database.open(None, tmp_path / "new")
        with db.session() as session, session.begin():
            session.execute(text("CREATE TABLE t (x INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in (tmp_path / "new").iterdir()}
        db.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    assert modes == {"autan.db": 0o600, "autan.db-wal": 0o600, "autan.db-shm": 0o600}
