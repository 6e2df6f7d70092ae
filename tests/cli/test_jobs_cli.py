"""``autan jobs list|show|cancel`` on a data directory, no server needed."""

import json
from pathlib import Path

from typer.testing import CliRunner

from autan.cli.main import app
from autan.fine_tuning.fine_tuning_jobs import FineTuningJobs
from autan.storage.database import Database
from tests.fine_tuning.minimal import waiting_job
from tests.jobs.test_job_store import JobStore, new_job

runner = CliRunner()


def test_list_show_cancel(tmp_path: Path) -> None:
    d = str(tmp_path)
    db = Database.open(None, tmp_path)
    try:
        job_id = new_job(JobStore(db), kind="batch")
    finally:
        db.close()

    listed = runner.invoke(app, ["jobs", "list", "--data-dir", d])
    assert listed.exit_code == 0, listed.output
    assert job_id in listed.stdout and "QUEUED" in listed.stdout and "0/0" in listed.stdout

    shown = runner.invoke(app, ["jobs", "show", job_id, "--data-dir", d])
    assert shown.exit_code == 0, shown.output
    fields = json.loads(shown.stdout)
    assert fields["id"] == job_id and fields["status"] == "QUEUED"

    cancelled = runner.invoke(app, ["jobs", "cancel", job_id, "--data-dir", d])
    assert cancelled.exit_code == 0 and "CANCELLATION_REQUESTED" in cancelled.stdout
    only = runner.invoke(app, ["jobs", "list", "--status", "QUEUED", "--data-dir", d])
    assert job_id not in only.stdout

    missing = runner.invoke(app, ["jobs", "show", "nope", "--data-dir", d])
    assert missing.exit_code == 1 and "No job with id nope" in missing.output


def test_cancel_a_waiting_fine_tuning_job_at_once(tmp_path: Path) -> None:
    db = Database.open(None, tmp_path)
    try:
        jobs = FineTuningJobs(JobStore(db))
        job = waiting_job(jobs)
        d = str(tmp_path)
        args = ["jobs", "cancel", job.id, "--kind", "fine_tuning", "--data-dir", d]
        cancelled = runner.invoke(app, args)
        assert cancelled.exit_code == 0, cancelled.output
        assert f"{job.id}: CANCELLED" in cancelled.stdout
        assert jobs.get(job.id).events[0].data == {"status": "CANCELLED"}
        listed = runner.invoke(app, ["jobs", "list", "--kind", "fine_tuning", "--data-dir", d])
        assert job.id in listed.stdout and "CANCELLED" in listed.stdout
    finally:
        db.close()
