"""Files: rows in the database, bytes in a blob store, each scoped to one workspace.

A file of another workspace is answered exactly like a file that does not exist, so ids
cannot be probed across workspaces. So is a file uploaded with ``visibility: user``, to every
key but the one that uploaded it, and a file past its ``expires_at``: expired files are gone
for every caller at once, and their bytes are removed at the next upload.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, false, func, or_, select

from autan.errors import NotFound
from autan.files.file import File
from autan.storage.blob_store import BlobStore
from autan.storage.database import Database
from autan.storage.job_tables import FileRow
from autan.storage.tables import utcnow

_SAMPLE_TYPE_BY_PURPOSE = {"batch": "batch_request", "fine-tune": "instruct", "ocr": "pretrain"}


@dataclass(frozen=True, slots=True)
class FileFilter:
    """What ``GET /v1/files`` may narrow the list to."""

    purpose: str | None = None
    sample_types: Sequence[str] = ()
    sources: Sequence[str] = ()
    mimetypes: Sequence[str] = ()
    search: str | None = None


class FileStore:
    def __init__(self, db: Database, blobs: BlobStore, *, max_bytes: int) -> None:
        self._db = db
        self._blobs = blobs
        self.max_bytes = max_bytes

    async def create(
        self,
        workspace_id: str,
        chunks: AsyncIterable[bytes],
        *,
        filename: str,
        purpose: str,
        key_id: str | None = None,
        mimetype: str | None = None,
        source: str = "upload",
        sample_type: str | None = None,
        visibility: str = "workspace",
        expires_at: datetime | None = None,
    ) -> File:
        """Stream ``chunks`` into the blob store, then record the file; 413 past the limit."""
        self.purge_expired()
        blob = await self._blobs.write(chunks, limit=self.max_bytes)
        row = FileRow(
            id=str(uuid.uuid4()),
            workspace_id=workspace_id,
            key_id=key_id,
            filename=filename,
            purpose=purpose,
            sample_type=sample_type or _SAMPLE_TYPE_BY_PURPOSE.get(purpose, "instruct"),
            source=source,
            mimetype=mimetype,
            bytes=blob.size,
            sha256=blob.sha256,
            num_lines=blob.lines,
            visibility=visibility,
            blob_key=blob.key,
            created_at=utcnow(),
            expires_at=expires_at,
            deleted=False,
        )
        try:
            with self._db.session() as session, session.begin():
                session.add(row)
        except BaseException:
            self._blobs.delete(blob.key)
            raise
        return File.from_row(row)

    def get(self, workspace_id: str, file_id: str, *, key_id: str | None = None) -> File:
        """A file ``key_id`` may read in ``workspace_id``; without ``key_id``, any file of the
        workspace (its own jobs reading their inputs)."""
        with self._db.session() as session:
            row = session.get(FileRow, file_id)
            if row is None or not _readable(row, workspace_id, key_id):
                raise NotFound("file", file_id)
            return File.from_row(row)

    def get_any(self, file_id: str) -> File:
        """The file whatever its workspace: for a download whose URL was signed."""
        with self._db.session() as session:
            row = session.get(FileRow, file_id)
            if row is None or not _readable(row, row.workspace_id, None):
                raise NotFound("file", file_id)
            return File.from_row(row)

    def list(
        self,
        workspace_id: str,
        where: FileFilter,
        *,
        page: int,
        page_size: int,
        key_id: str | None = None,
    ) -> tuple[list[File], int]:
        """One page, newest first, and how many files match in all."""
        query = select(FileRow).where(
            FileRow.workspace_id == workspace_id,
            ~FileRow.deleted,
            _live(utcnow()),
            _visible_to(key_id),
        )
        if where.purpose:
            query = query.where(FileRow.purpose == where.purpose)
        if where.sample_types:
            query = query.where(FileRow.sample_type.in_(where.sample_types))
        if where.sources:
            query = query.where(FileRow.source.in_(where.sources))
        if where.mimetypes:
            query = query.where(FileRow.mimetype.in_(where.mimetypes))
        if where.search:
            query = query.where(FileRow.filename.contains(where.search, autoescape=True))
        with self._db.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(FileRow.created_at.desc(), FileRow.id)
                .offset(page * page_size)
                .limit(page_size)
            ).all()
            return [File.from_row(r) for r in rows], total

    def delete(self, workspace_id: str, file_id: str, *, key_id: str | None = None) -> None:
        with self._db.session() as session, session.begin():
            row = session.get(FileRow, file_id)
            if row is None or not _readable(row, workspace_id, key_id):
                raise NotFound("file", file_id)
            row.deleted = True
            blob_key = row.blob_key
        self._blobs.delete(blob_key)

    def purge_expired(self) -> int:
        """Mark every expired file deleted and remove its bytes; return how many."""
        with self._db.session() as session, session.begin():
            rows = session.scalars(
                select(FileRow).where(~FileRow.deleted, ~_live(utcnow())).limit(1000)
            ).all()
            for row in rows:
                row.deleted = True
            keys = [row.blob_key for row in rows]
        for key in keys:
            self._blobs.delete(key)
        return len(keys)

    def content(self, file: File) -> Iterator[bytes]:
        return self._blobs.read(file.blob_key)


def _live(now: datetime) -> ColumnElement[bool]:
    return or_(FileRow.expires_at.is_(None), FileRow.expires_at > now)


def _visible_to(key_id: str | None) -> ColumnElement[bool]:
    if key_id is None:
        return ~false()
    return or_(FileRow.visibility != "user", FileRow.key_id == key_id)


def _readable(row: FileRow, workspace_id: str, key_id: str | None) -> bool:
    return (
        not row.deleted
        and row.workspace_id == workspace_id
        and (row.expires_at is None or row.expires_at > utcnow())
        and (key_id is None or row.visibility != "user" or row.key_id == key_id)
    )
