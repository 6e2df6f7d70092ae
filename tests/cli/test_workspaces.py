"""``autan workspaces create|list|archive`` on a data dir."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from autan.cli.main import app

runner = CliRunner()


def test_create_list_archive(tmp_path: Path) -> None:
    d = str(tmp_path)
    # archiving needs an admin key that works outside the workspace
    assert runner.invoke(app, ["keys", "create", "--admin", "--data-dir", d]).exit_code == 0
    created = runner.invoke(app, ["workspaces", "create", "research", "--data-dir", d])
    assert created.exit_code == 0, created.output
    workspace_id = created.stdout.split()[1]

    listed = runner.invoke(app, ["workspaces", "list", "--data-dir", d]).stdout
    assert "research" in listed and workspace_id in listed and "Default" in listed

    key = runner.invoke(app, ["keys", "create", "--workspace", workspace_id, "--data-dir", d])
    assert key.exit_code == 0, key.output

    archived = runner.invoke(app, ["workspaces", "archive", workspace_id[:8], "--data-dir", d])
    assert archived.exit_code == 0, archived.output
    assert archived.stdout.strip() == f"archived {workspace_id} (research)"
    assert workspace_id not in runner.invoke(app, ["workspaces", "list", "--data-dir", d]).stdout
    gone = runner.invoke(app, ["workspaces", "list", "--archived", "--data-dir", d]).stdout
    assert workspace_id in gone

    again = runner.invoke(app, ["workspaces", "archive", workspace_id, "--data-dir", d])
    assert again.exit_code == 1
    assert again.output.strip().startswith("error: no active workspace has an id starting with")
