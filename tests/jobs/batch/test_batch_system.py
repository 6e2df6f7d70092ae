"""Which blob store ``BatchSystem.open`` keeps file contents in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from autan.jobs.batch.batch_caller import BatchCaller
from autan.jobs.batch.batch_system import BatchSystem
from autan.settings import FilesSettings, JobsSettings
from autan.storage.database import Database


async def _chunks() -> AsyncIterator[bytes]:
    yield b'{"custom_id": "a"}\n'


def _upload(db: Database, tmp_path: Path, store: str) -> None:
    system = BatchSystem.open(
        None,
        BatchCaller.__new__(BatchCaller),  # never called: no job runs here
        data_dir=tmp_path,
        db=db,
        files=FilesSettings.model_validate({"store": store}),
        jobs=JobsSettings(enabled=False),
    )
    file = asyncio.run(system.files.create("ws", _chunks(), filename="a.jsonl", purpose="batch"))
    assert b"".join(system.files.content(file)) == b'{"custom_id": "a"}\n'


def _on_disk(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "files").iterdir())


def test_auto_keeps_files_in_postgresql_and_on_disk_with_sqlite(
    db: Database, tmp_path: Path
) -> None:
    _upload(db, tmp_path, "auto")
    assert bool(_on_disk(tmp_path)) == (db.dialect == "sqlite")


@pytest.mark.parametrize("store", ["filesystem", "database"])
def test_the_setting_picks_the_store_on_any_database(
    db: Database, tmp_path: Path, store: str
) -> None:
    _upload(db, tmp_path, store)
    assert bool(_on_disk(tmp_path)) == (store == "filesystem")
