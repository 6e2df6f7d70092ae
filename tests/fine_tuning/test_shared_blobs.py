"""Fine-tuning's files through the shared blob store: fetched in chunks to a file, checked
against the size and sha256 recorded, never left half-written."""

from __future__ import annotations

import asyncio
import dataclasses
import tracemalloc
from pathlib import Path

import pytest

from autan.fine_tuning.shared_blobs import BlobMismatch, SharedBlobs
from autan.storage.blob_store import CHUNK, LocalBlobStore
from autan.storage.database import Database
from autan.storage.database_blob_store import DatabaseBlobStore


def test_a_file_goes_up_and_comes_down_checked_in_chunks(db: Database, tmp_path: Path) -> None:
    blobs = SharedBlobs(DatabaseBlobStore(db))
    source = tmp_path / "adapter.gguf"
    source.write_bytes(bytes(range(256)) * (12 * CHUNK // 256))  # 12 MiB
    ref = asyncio.run(blobs.upload(source))
    assert ref.size == source.stat().st_size

    tracemalloc.start()
    try:
        copy = blobs.download(ref, tmp_path / "copies" / "adapter.gguf")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert copy.read_bytes() == source.read_bytes()
    assert peak < 4 * CHUNK  # streamed, never the whole file in memory
    assert [p.name for p in copy.parent.iterdir()] == ["adapter.gguf"]


def test_a_blob_that_is_not_the_one_recorded_is_refused(db: Database, tmp_path: Path) -> None:
    blobs = SharedBlobs(DatabaseBlobStore(db))
    source = tmp_path / "state.pt"
    source.write_bytes(b"weights" * 1000)
    ref = asyncio.run(blobs.upload(source))
    target = tmp_path / "copy" / "state.pt"
    with pytest.raises(BlobMismatch, match="not the one recorded"):
        blobs.download(dataclasses.replace(ref, sha256="0" * 64), target)
    with pytest.raises(BlobMismatch):
        blobs.download(dataclasses.replace(ref, size=ref.size - 1), target)
    assert not list(target.parent.iterdir())  # nothing half-written is left
    blobs.delete(ref.key)
    with pytest.raises(FileNotFoundError):
        blobs.download(ref, target)


def test_only_a_shared_store_shares(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="shared blob store"):
        SharedBlobs(LocalBlobStore(tmp_path))
