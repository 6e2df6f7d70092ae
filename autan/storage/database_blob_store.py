"""Blobs kept in the database, chunk by chunk: every process on one PostgreSQL reads every
blob, with no shared disk. The default file store on PostgreSQL.

Neither a write nor a read holds more than one chunk (``CHUNK``, 1 MiB) in memory. A write is
one transaction, so a blob appears whole or not at all; a read asks for one chunk at a time,
holding no connection between chunks, so a slow download keeps no connection from others.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import delete, insert, select, update

from autan.errors import FileTooLarge
from autan.storage.blob_store import CHUNK, BlobStore, StoredBlob
from autan.storage.blob_tables import BlobChunkRow, BlobRow
from autan.storage.database import Database

T = TypeVar("T")


class DatabaseBlobStore:
    """Blobs as rows of ``db``. ``fallback``: where blobs written before this store was
    used live (the data directory's), read and deleted there when not found here."""

    shared = True

    def __init__(self, db: Database, fallback: BlobStore | None = None) -> None:
        self._db = db
        self._fallback = fallback

    async def write(
        self, chunks: AsyncIterable[bytes], *, limit: int | None, key: str | None = None
    ) -> StoredBlob:
        key = key or uuid.uuid4().hex
        digest = hashlib.sha256()
        size = lines = seq = 0
        last = b"\n"
        pending = bytearray()
        connection = await _off_loop(self._db.engine.connect)
        try:
            transaction = await _off_loop(connection.begin)
            now = datetime.now(UTC).replace(tzinfo=None)
            await _off_loop(
                connection.execute, insert(BlobRow).values(key=key, size=0, created_at=now)
            )
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if limit is not None and size > limit:
                    raise FileTooLarge(limit)
                digest.update(chunk)
                lines += chunk.count(b"\n")
                last = chunk[-1:]
                pending += chunk
                while len(pending) >= CHUNK:
                    data = bytes(pending[:CHUNK])
                    del pending[:CHUNK]
                    await _off_loop(
                        connection.execute,
                        insert(BlobChunkRow).values(key=key, seq=seq, data=data),
                    )
                    seq += 1
            if pending:
                await _off_loop(
                    connection.execute,
                    insert(BlobChunkRow).values(key=key, seq=seq, data=bytes(pending)),
                )
            await _off_loop(
                connection.execute, update(BlobRow).where(BlobRow.key == key).values(size=size)
            )
            await _off_loop(transaction.commit)
        finally:
            await _off_loop(connection.close)  # rolls back what was not committed
        return StoredBlob(key, size, digest.hexdigest(), lines + (last != b"\n"))

    def read(self, key: str) -> Iterator[bytes]:
        with self._db.engine.connect() as connection:
            found = connection.scalar(select(BlobRow.key).where(BlobRow.key == key))
        if found is None:
            if self._fallback is None:
                raise FileNotFoundError(f"no blob {key}")
            return self._fallback.read(key)
        return self._chunks(key)

    def _chunks(self, key: str) -> Iterator[bytes]:
        seq = 0
        while True:
            with self._db.engine.connect() as connection:
                data = connection.scalar(
                    select(BlobChunkRow.data).where(
                        BlobChunkRow.key == key, BlobChunkRow.seq == seq
                    )
                )
            if data is None:
                return
            yield bytes(data)
            seq += 1

    def delete(self, key: str) -> None:
        with self._db.engine.begin() as connection:
            connection.execute(delete(BlobChunkRow).where(BlobChunkRow.key == key))
            connection.execute(delete(BlobRow).where(BlobRow.key == key))
        if self._fallback is not None:
            self._fallback.delete(key)


async def _off_loop(call: Callable[..., T], *args: Any) -> T:
    """``call`` in a thread. Cancelled meanwhile, it still waits for the call to end, so that
    the writer's connection is never closed under a statement another thread is running."""
    task = asyncio.ensure_future(asyncio.to_thread(call, *args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        raise
