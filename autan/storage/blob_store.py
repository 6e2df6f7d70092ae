"""Where file contents live: a protocol, and the built-in store, a directory on local disk.

Writers hand over chunks as they arrive, so nothing holds a whole upload in memory; the store
counts and hashes them as they go and refuses a blob that grows past its limit.

Blobs are private to the user running autan: the directory is made 0700 and each blob 0600.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from autan.errors import FileTooLarge

log = logging.getLogger(__name__)

CHUNK = 1 << 20
PARTIAL = ".partial"


@dataclass(frozen=True, slots=True)
class StoredBlob:
    key: str
    size: int
    sha256: str
    lines: int  # newline-terminated lines, plus a last unterminated one


class BlobStore(Protocol):
    # Whether every process on the database reads this store's blobs (not one machine's disk).
    shared: bool

    async def write(
        self, chunks: AsyncIterable[bytes], *, limit: int | None, key: str | None = None
    ) -> StoredBlob:
        """Store the chunks under a new key (``key``, when given: one no blob has); ``FileTooLarge``
        past ``limit`` bytes, when given (nothing is kept then)."""
        ...

    def read(self, key: str) -> Iterator[bytes]:
        """The blob's bytes, chunk by chunk; ``FileNotFoundError`` at once (before the first
        chunk is asked for) when this store has no blob under ``key``."""
        ...

    def delete(self, key: str) -> None: ...


class LocalBlobStore:
    """Blobs as files under ``root``, written to a temporary name and renamed when complete,
    so a crash never leaves a half-written blob under a real key.

    A writer holds an exclusive ``flock`` on its temporary file until it is renamed; opening
    the store removes every temporary file nobody holds, what a killed process left behind.
    Other processes writing into the same directory keep theirs (their lock is held).
    """

    shared = False

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._remove_abandoned_partials()

    def _path(self, key: str) -> Path:
        assert "/" not in key and ".." not in key, f"blob key {key!r} must be a plain name"
        return self.root / key

    def _remove_abandoned_partials(self) -> None:
        removed = 0
        for path in self.root.glob(f"*{PARTIAL}"):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # renamed or removed meanwhile
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live writer's
                os.close(fd)
                continue
            try:
                path.unlink(missing_ok=True)
                removed += 1
            finally:
                os.close(fd)
        if removed:
            log.info("removed %d unfinished blob(s) left in %s", removed, self.root)

    async def write(
        self, chunks: AsyncIterable[bytes], *, limit: int | None, key: str | None = None
    ) -> StoredBlob:
        key = key or uuid.uuid4().hex
        final = self._path(key)
        partial = final.with_suffix(PARTIAL)
        digest = hashlib.sha256()
        size = lines = 0
        last = b"\n"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with os.fdopen(fd, "wb") as f:
                async for chunk in chunks:
                    if not chunk:
                        continue
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise FileTooLarge(limit)
                    digest.update(chunk)
                    lines += chunk.count(b"\n")
                    last = chunk[-1:]
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
                partial.rename(final)  # still locked: the lock goes when ``f`` closes
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return StoredBlob(key, size, digest.hexdigest(), lines + (last != b"\n"))

    def read(self, key: str) -> Iterator[bytes]:
        return _chunks_of(self._path(key).open("rb"))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def _chunks_of(f: BinaryIO) -> Iterator[bytes]:
    with f:
        while chunk := f.read(CHUNK):
            yield chunk
