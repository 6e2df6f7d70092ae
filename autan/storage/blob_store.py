"""Where file contents live: a protocol, and the built-in store, a directory on local disk.

Writers hand over chunks as they arrive, so nothing holds a whole upload in memory; the store
counts and hashes them as they go and refuses a blob that grows past its limit.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from autan.errors import FileTooLarge

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class StoredBlob:
    key: str
    size: int
    sha256: str
    lines: int  # newline-terminated lines, plus a last unterminated one


class BlobStore(Protocol):
    async def write(self, chunks: AsyncIterable[bytes], *, limit: int | None) -> StoredBlob:
        """Store the chunks under a new key; ``FileTooLarge`` past ``limit`` bytes, when
        given (nothing is kept then)."""
        ...

    def read(self, key: str) -> Iterator[bytes]:
        """The blob's bytes, chunk by chunk."""
        ...

    def delete(self, key: str) -> None: ...


class LocalBlobStore:
    """Blobs as files under ``root``, written to a temporary name and renamed when complete,
    so a crash never leaves a half-written blob under a real key."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        assert "/" not in key and ".." not in key, f"blob key {key!r} must be a plain name"
        return self.root / key

    async def write(self, chunks: AsyncIterable[bytes], *, limit: int | None) -> StoredBlob:
        key = uuid.uuid4().hex
        final = self._path(key)
        partial = final.with_suffix(".partial")
        digest = hashlib.sha256()
        size = lines = 0
        last = b"\n"
        try:
            with partial.open("wb") as f:
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
            partial.rename(final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return StoredBlob(key, size, digest.hexdigest(), lines + (last != b"\n"))

    def read(self, key: str) -> Iterator[bytes]:
        with self._path(key).open("rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
