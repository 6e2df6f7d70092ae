"""Fine-tuning's files in the blob store every process on the database reads (the database
store, PostgreSQL's default): the adapters of fine-tuned models, and each running job's last
checkpoint state, so that any node serves a model another trained, and any worker resumes a
job another started.

A file goes up and comes down in chunks (``CHUNK``): never whole in memory. What comes down is
written to a temporary name beside its destination, checked against the size and sha256
recorded when it went up, and only then renamed into place: a half-fetched or damaged file is
never loaded.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autan.storage.blob_store import CHUNK, BlobStore


class BlobMismatch(ValueError):
    """A fetched blob is not the one recorded (its size or sha256 differs)."""


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A blob as recorded when it was stored: where, how large, and its sha256."""

    key: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BlobRef:
        return cls(str(data["key"]), int(data["size"]), str(data["sha256"]))


class SharedBlobs:
    def __init__(self, blobs: BlobStore) -> None:
        assert blobs.shared, "fine-tuning files are shared only through a shared blob store"
        self._blobs = blobs

    async def upload(self, path: Path, key: str | None = None) -> BlobRef:
        """Store the file's bytes as they are when it is opened (a file replaced by a rename
        meanwhile is read whole, in its old version); read off the event loop. ``key``: the
        blob's, replacing any blob under it; else a new one."""
        f = await asyncio.to_thread(path.open, "rb")
        try:

            async def chunks() -> AsyncIterator[bytes]:
                while chunk := await asyncio.to_thread(f.read, CHUNK):
                    yield chunk

            if key is not None:
                await asyncio.to_thread(self._blobs.delete, key)
            stored = await self._blobs.write(chunks(), limit=None, key=key)
        finally:
            f.close()
        return BlobRef(stored.key, stored.size, stored.sha256)

    def download(self, ref: BlobRef, path: Path) -> Path:
        """Fetch the blob into ``path``, checked; blocking (call it in a thread).
        ``FileNotFoundError`` when the store no longer holds it, ``BlobMismatch`` when its
        bytes are not the ones recorded (nothing is left at ``path`` then)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
        digest = hashlib.sha256()
        size = 0
        try:
            with partial.open("wb") as out:
                for chunk in self._blobs.read(ref.key):
                    size += len(chunk)
                    if size > ref.size:
                        break
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size != ref.size or digest.hexdigest() != ref.sha256:
                raise BlobMismatch(
                    f"blob {ref.key} is not the one recorded: {size} bytes (expected "
                    f"{ref.size}), sha256 {digest.hexdigest()[:12]}... (expected "
                    f"{ref.sha256[:12]}...)"
                )
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
        return path

    def delete(self, key: str) -> None:
        self._blobs.delete(key)
