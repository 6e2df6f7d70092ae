"""``autan keys`` and ``autan usage`` on a data directory, no server needed."""

from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from autan.accounts.key_store import KeyStore
from autan.accounts.usage_ledger import UsageLedger, UsageRecord
from autan.cli.main import app
from autan.storage.database import Database

runner = CliRunner()


def test_create_list_revoke(tmp_path: Path) -> None:
    d = str(tmp_path)
    result = runner.invoke(
        app,
        ["keys", "create", "--name", "ci", "--rpm", "5", "--model", "m1", "--model", "m2",
         "--expires", "2030-01-31", "--data-dir", d],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    key_id = result.stdout.split("key id")[1].split()[0]
    secret = result.stdout.split("secret")[1].split()[0]
    db = Database.open(None, tmp_path)
    try:
        key = KeyStore(db).find(secret)
        assert key is not None and key.id == key_id
        assert key.models == ("m1", "m2") and key.requests_per_minute == 5
        assert key.expires_at == datetime(2030, 1, 31)
    finally:
        db.close()

    listed = runner.invoke(app, ["keys", "list", "--data-dir", d])
    assert key_id in listed.stdout and "m1,m2" in listed.stdout and "active" in listed.stdout
    assert secret not in listed.stdout

    revoked = runner.invoke(app, ["keys", "revoke", key_id, "--data-dir", d])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert key_id not in runner.invoke(app, ["keys", "list", "--data-dir", d]).stdout
    every = runner.invoke(app, ["keys", "list", "--all", "--data-dir", d]).stdout
    assert "revoked" in every

    missing = runner.invoke(app, ["keys", "revoke", "nope", "--data-dir", d])
    assert missing.exit_code != 0


def _record(day: int, model: str | None, prompt: int, **kw: object) -> UsageRecord:
    fields: dict[str, object] = {
        "created_at": datetime(2026, 11, day, 9),
        "key_id": "k1",
        "workspace_id": "w",
        "endpoint": "/v1/chat/completions",
        "model": model,
        "prompt_tokens": prompt,
        "completion_tokens": 1 if model else 0,
        "cost": 0.25 if model else 0.0,
        "latency_ms": 1.0,
        "status": 200,
    }
    return UsageRecord(**{**fields, **kw})  # type: ignore[arg-type]


def test_usage_is_a_table_by_day_model_key_and_kind_with_cost(tmp_path: Path) -> None:
    db = Database.open(None, tmp_path)
    ledger = UsageLedger(db)
    for record in (
        _record(20, "m1", 10),
        _record(20, "m1", 5),
        _record(20, "m1", 4, batch=True),
        _record(20, "m1", 0, status=400, cost=0.0, completion_tokens=0),
        _record(20, None, 0, endpoint="/v1/batch/jobs/{job_id}"),
        _record(20, None, 0, endpoint="/v1/models"),
        _record(21, "m2", 7),
    ):
        ledger.add(record)
    ledger.flush()
    db.close()
    result = runner.invoke(
        app, ["usage", "--data-dir", str(tmp_path)], env={"AUTAN_ACCOUNTS__CURRENCY": "EUR"}
    )
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == [
        "day", "model", "key", "kind", "requests", "errors", "prompt", "completion", "cost",
        "(EUR)",
    ]  # fmt: skip
    assert rows[1] == ["2026-11-20", "-", "k1", "management", "2", "0", "0", "0", "0.000000"]
    assert rows[2] == ["2026-11-20", "m1", "k1", "interactive", "2", "1", "15", "2", "0.500000"]
    assert rows[3] == ["2026-11-20", "m1", "k1", "batch", "1", "0", "4", "1", "0.250000"]
    assert rows[4] == ["2026-11-21", "m2", "k1", "interactive", "1", "0", "7", "1", "0.250000"]
    assert rows[5] == ["total", "interactive", "3", "1", "22", "3", "0.750000"]
    assert rows[6] == ["total", "batch", "1", "0", "4", "1", "0.250000"]
    assert rows[7] == ["total", "management", "2", "0", "0", "0", "0.000000"]
    assert rows[-1] == ["Total", "cost:", "1.000000", "EUR"]
    other_month = runner.invoke(app, ["usage", "--month", "2026-10", "--data-dir", str(tmp_path)])
    assert other_month.stdout.splitlines()[1].split() == [
        "total", "interactive", "0", "0", "0", "0", "0.000000",
    ]  # fmt: skip
