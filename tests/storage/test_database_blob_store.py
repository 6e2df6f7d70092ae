"""Blobs kept in the database, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from autan.errors import FileTooLarge
from autan.storage.blob_store import CHUNK, LocalBlobStore
from autan.storage.blob_tables import BlobChunkRow, BlobRow
from autan.storage.database import Database
from autan.storage.database_blob_store import DatabaseBlobStore


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _rows(db: Database) -> tuple[int, int]:
    with db.engine.connect() as conn:
        blobs = conn.scalar(select(func.count()).select_from(BlobRow))
        chunks = conn.scalar(select(func.count()).select_from(BlobChunkRow))
    return blobs or 0, chunks or 0


def test_a_blob_is_written_and_read_back_in_chunks(db: Database) -> None:
    store = DatabaseBlobStore(db)
    parts = [b"a" * 700_000, b"line\n" * 100_000, b"", b"tail"]  # 1.9 MB in uneven parts
    blob = asyncio.run(store.write(_chunks(*parts), limit=None))
    content = b"".join(parts)
    assert blob.size == len(content)
    assert blob.sha256 == hashlib.sha256(content).hexdigest()
    assert blob.lines == 100_001
    read = list(store.read(blob.key))
    assert [len(c) for c in read] == [CHUNK, len(content) - CHUNK]
    assert b"".join(read) == content
    assert _rows(db) == (1, 2)
    store.delete(blob.key)
    assert _rows(db) == (0, 0)
    with pytest.raises(FileNotFoundError):
        store.read(blob.key)


def test_an_empty_blob_exists_and_reads_as_nothing(db: Database) -> None:
    store = DatabaseBlobStore(db)
    blob = asyncio.run(store.write(_chunks(), limit=10))
    assert (blob.size, blob.lines) == (0, 0)
    assert list(store.read(blob.key)) == []


def test_a_blob_past_its_limit_leaves_no_row(db: Database) -> None:
    store = DatabaseBlobStore(db)
    with pytest.raises(FileTooLarge):
        asyncio.run(store.write(_chunks(b"x" * CHUNK, b"x" * CHUNK, b"x"), limit=2 * CHUNK))
    assert _rows(db) == (0, 0)


def test_a_missing_blob_fails_before_the_first_chunk(db: Database) -> None:
    with pytest.raises(FileNotFoundError):
        DatabaseBlobStore(db).read("0" * 32)


def test_blobs_written_to_the_data_directory_before_stay_readable(
    db: Database, tmp_path: Path
) -> None:
    local = LocalBlobStore(tmp_path / "files")
    old = asyncio.run(local.write(_chunks(b"written before"), limit=None))
    store = DatabaseBlobStore(db, fallback=local)
    assert b"".join(store.read(old.key)) == b"written before"
    store.delete(old.key)
    with pytest.raises(FileNotFoundError):
        store.read(old.key)


def test_neither_writing_nor_reading_holds_the_blob_in_memory(db: Database) -> None:
    store = DatabaseBlobStore(db)
    size = 24 * CHUNK

    async def stream() -> AsyncIterator[bytes]:
        for i in range(size // 65536):
            yield bytes([i % 251]) * 65536

    tracemalloc.start()
    try:
        blob = asyncio.run(store.write(stream(), limit=None))
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        total = sum(len(c) for c in store.read(blob.key))
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == blob.size == size
    assert write_peak < 6 * CHUNK, write_peak  # a chunk or two in flight, not 24 MiB
    assert read_peak < 6 * CHUNK, read_peak


def test_an_upload_cancelled_midway_leaves_no_row(db: Database) -> None:
    store = DatabaseBlobStore(db)
    stalled = asyncio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        yield b"x" * (2 * CHUNK + 1)  # two chunk rows written in the open transaction
        stalled.set()
        await asyncio.Event().wait()  # the client goes quiet
        yield b""

    async def cancel_midway() -> None:
        task = asyncio.create_task(store.write(stalling(), limit=None))
        await stalled.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    assert _rows(db) == (0, 0)
