"""Migration 0004: fine-tuning jobs move into the jobs table and back, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from autan.fine_tuning.fine_tuning_jobs import FineTuningJobs
from autan.jobs.job import JobStatus
from autan.jobs.job_store import JobStore
from autan.storage import database
from autan.storage.database import Database


def _alembic(db: Database, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(database.__file__).parent / "migrations"))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        if down:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)


_OLD_ROW = text(
    "INSERT INTO fine_tuning_jobs (id, workspace_id, model, status, auto_start, start_requested,"
    " hyperparameters, training_files, validation_files, suffix, fine_tuned_model,"
    " trained_tokens, job_metadata, error, lease_owner, lease_expires_at, created_at,"
    " modified_at) VALUES (:id, 'ws', 'tiny', 'SUCCESS', :t, :t, :h, :tf, :vf, 'sfx', 'ft:tiny:x',"
    " 1234, :m, NULL, NULL, NULL, :c, :c)"
)


def test_fine_tuning_rows_move_into_jobs_and_back(db: Database) -> None:
    _alembic(db, "0003_fine_tuning", down=True)
    created = datetime(2026, 1, 2, 3, 4, 5)
    with db.engine.begin() as conn:
        conn.execute(
            _OLD_ROW,
            {
                "id": "job-1",
                "t": True,
                "h": '{"learning_rate": 0.001, "training_steps": 3}',
                "tf": '[{"file_id": "f1", "weight": 2.0}]',
                "vf": '["f2"]',
                "m": '{"data_tokens": 40}',
                "c": created,
            },
        )
        conn.execute(
            text(
                "INSERT INTO fine_tuning_events (job_id, name, data, created_at)"
                " VALUES ('job-1', 'status-updated', '{\"status\": \"SUCCESS\"}', :c)"
            ),
            {"c": created},
        )
    _alembic(db, "head")

    job = FineTuningJobs(JobStore(db)).get("job-1", "ws")
    assert job.status is JobStatus.SUCCESS and job.key_id is None
    assert (job.model, job.suffix, job.fine_tuned_model, job.trained_tokens) == (
        "tiny",
        "sfx",
        "ft:tiny:x",
        1234,
    )
    assert job.hyperparameters == {"learning_rate": 0.001, "training_steps": 3}
    assert [(f.file_id, f.weight) for f in job.training_files] == [("f1", 2.0)]
    assert job.validation_files == ["f2"] and job.auto_start and job.start_requested
    assert job.metadata == {"data_tokens": 40}
    assert job.created_at == created == job.modified_at
    assert [e.data for e in job.events] == [{"status": "SUCCESS"}]

    _alembic(db, "0003_fine_tuning", down=True)
    with db.engine.connect() as conn:
        row = conn.execute(
            text("SELECT suffix, trained_tokens, status FROM fine_tuning_jobs WHERE id = 'job-1'")
        ).one()
        assert tuple(row) == ("sfx", 1234, "SUCCESS")
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 0
    _alembic(db, "head")
