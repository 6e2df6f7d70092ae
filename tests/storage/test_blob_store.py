"""The local blob store: private files, nothing left behind by a killed writer."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from autan.storage.blob_store import LocalBlobStore

# Writes one blob that never ends, as an upload cut off by ``kill -9`` would.
_ENDLESS_WRITER = """
import asyncio, sys
from pathlib import Path
from autan.storage.blob_store import LocalBlobStore

async def endless():
    while True:
        yield b"x" * 4096
        await asyncio.sleep(0.01)

asyncio.run(LocalBlobStore(Path(sys.argv[1])).write(endless(), limit=None))
"""


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _start_writer(root: Path) -> subprocess.Popen[bytes]:
    before = set(root.glob("*.partial")) if root.exists() else set()
    proc = subprocess.Popen([sys.executable, "-c", _ENDLESS_WRITER, str(root)])
    deadline = time.monotonic() + 60
    while not (set(root.glob("*.partial")) - before if root.exists() else set()):
        assert proc.poll() is None, "the writer died before it began its blob"
        assert time.monotonic() < deadline, "the writer never began its blob"
        time.sleep(0.05)
    return proc


def test_blobs_and_their_directory_are_private(tmp_path: Path, umask_022: None) -> None:
    store = LocalBlobStore(tmp_path / "files")
    blob = asyncio.run(store.write(_chunks(b"a\n", b"b"), limit=None))
    assert _mode(tmp_path / "files") == 0o700
    assert _mode(tmp_path / "files" / blob.key) == 0o600
    assert (blob.size, blob.lines) == (3, 2)
    assert b"".join(store.read(blob.key)) == b"a\nb"


def test_reading_a_missing_blob_fails_before_the_first_chunk(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(FileNotFoundError):
        store.read("0" * 32)


def test_a_blob_left_unfinished_by_a_killed_process_is_removed_at_open(tmp_path: Path) -> None:
    root = tmp_path / "files"
    killed = _start_writer(root)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    left = list(root.glob("*.partial"))
    assert len(left) == 1

    alive = _start_writer(root)
    try:
        live = set(root.glob("*.partial")) - set(left)
        LocalBlobStore(root)
        assert set(root.glob("*.partial")) == live  # the live writer's stays
    finally:
        alive.kill()
        alive.wait()
    LocalBlobStore(root)
    assert list(root.iterdir()) == []
