"""``autan keys update`` and the mistakes ``autan keys`` answers in one line."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from autan.accounts.key_store import KeyStore
from autan.cli.main import app
from autan.storage.database import Database

runner = CliRunner()


def _create(d: Path, *args: str) -> str:
    result = runner.invoke(app, ["keys", "create", "--data-dir", str(d), *args])
    assert result.exit_code == 0, result.output
    return result.stdout.split("key id")[1].split()[0]


def _key(d: Path, key_id: str):  # type: ignore[no-untyped-def]
    db = Database.open(None, d)
    try:
        return KeyStore(db).get(key_id)
    finally:
        db.close()


def test_update_changes_only_what_is_given(tmp_path: Path) -> None:
    key_id = _create(tmp_path, "--rpm", "5", "--tpm", "100", "--model", "a")
    short = key_id[:8]
    result = runner.invoke(
        app, ["keys", "update", short, "--rpm", "7", "--expires", "2031-02-03",
              "--data-dir", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"updated {key_id}: models a, rpm 7, tpm 100, expires 2031-02-03"
    )
    key = _key(tmp_path, key_id)
    assert (key.requests_per_minute, key.tokens_per_minute, key.models) == (7, 100, ("a",))
    assert key.expires_at == datetime(2031, 2, 3)

    result = runner.invoke(
        app, ["keys", "update", key_id, "--all-models", "--no-tpm", "--no-expiry",
              "--model", "x", "--data-dir", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 1 and "contradict" in result.output
    result = runner.invoke(
        app, ["keys", "update", key_id, "--all-models", "--no-tpm", "--no-expiry",
              "--data-dir", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    key = _key(tmp_path, key_id)
    assert (key.models, key.tokens_per_minute, key.expires_at) == (None, None, None)
    assert key.requests_per_minute == 7


def test_mistakes_get_one_line_and_exit_1(tmp_path: Path) -> None:
    d = str(tmp_path)
    first = _create(tmp_path)
    cases = {
        ("keys", "create", "--expires", "2001-01-01"): "error: The expiration 2001-01-01 is "
        "not in the future",
        ("keys", "create", "--workspace", "nope"): "error: No workspace with id nope",
        ("keys", "revoke", "zz"): "error: no key has an id starting with 'zz'",
        ("keys", "update", first[:6], "--expires", "2001-01-01"): "error: The expiration",
    }
    for args, said in cases.items():
        result = runner.invoke(app, [*args, "--data-dir", d])
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith(said), (args, result.output)
        assert "Traceback" not in result.output and len(result.output.splitlines()) == 1


def test_revoke_takes_the_start_of_an_id(tmp_path: Path) -> None:
    key_id = _create(tmp_path)
    result = runner.invoke(app, ["keys", "revoke", key_id[:8], "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"revoked {key_id}")
