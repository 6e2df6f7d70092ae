"""What every ``autan`` command shares: --version, readable --help, one line per mistake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autan import __version__
from autan.cli.main import app

runner = CliRunner()

COMMANDS = [
    ["serve"],
    ["chat"],
    ["usage"],
    ["models", "add"],
    ["models", "list"],
    ["models", "remove"],
    ["keys", "create"],
    ["keys", "list"],
    ["keys", "update"],
    ["keys", "revoke"],
    ["workspaces", "create"],
    ["workspaces", "list"],
    ["workspaces", "archive"],
    ["ps"],
    ["pull"],
    ["backends"],
    *(["files", c] for c in ("upload", "list", "download", "delete")),
    *(["batch", c] for c in ("create", "list", "show", "cancel", "results")),
    *(["fine-tuning", c] for c in ("create", "list", "show", "cancel")),
    ["jobs", "list"],
    ["jobs", "show"],
    ["jobs", "cancel"],
]


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"autan {__version__}"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_names_plain_types_and_environment_variables(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    page = result.output
    # no Python types: <bool>, <str>, <list[str]>, <int range>
    assert not re.search(r"<[a-z][a-z\[\] |]*>", page), page
    if "--data-dir" in page:
        assert "AUTAN_DATA_DIR" in page


def test_every_option_has_help_text() -> None:
    import typer.main

    def walk(command: object, path: str) -> None:
        for param in getattr(command, "params", []):
            if param.name not in ("help", "install_completion", "show_completion"):
                assert getattr(param, "help", None), f"{path} {param.name} has no help"
        for name, sub in getattr(command, "commands", {}).items():
            assert sub.help or sub.short_help, f"{path} {name} has no help"
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "autan")


def test_a_data_dir_that_does_not_exist_is_refused_and_not_made(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    for command in (["keys", "list"], ["jobs", "list"], ["workspaces", "list"]):
        result = runner.invoke(app, [*command, "--data-dir", str(missing)])
        assert result.exit_code == 1, result.output
        assert result.output.strip() == (
            f"error: no data dir at {missing}: check --data-dir (or AUTAN_DATA_DIR); "
            "`autan serve` makes it on its first start"
        )
    assert not missing.exists()
    empty = runner.invoke(app, ["keys", "revoke", "abc", "--data-dir", str(tmp_path)])
    assert empty.exit_code == 1 and "holds no autan database (autan.db)" in empty.output
    assert not (tmp_path / "autan.db").exists()
