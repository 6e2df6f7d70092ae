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

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from autan.errors import FileContentMissing, NotFound
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

    @property
    def blobs(self) -> BlobStore:
        """Where the files' bytes live (fine-tuning keeps its own files there too)."""
        return self._blobs

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
        """Stream ``chunks`` into the blob store, then record the file. An upload gets a 413
        past the size limit; a file autan writes itself (``source`` not ``upload``: a batch
        job's output) has no limit, so a job never fails at its end for its answers' size."""
        self.purge_expired()
        limit = self.max_bytes if source == "upload" else None
        blob = await self._blobs.write(chunks, limit=limit)
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
            return File.from_row(_readable_row(session, file_id, workspace_id, key_id))

    def get_any(self, file_id: str) -> File:
        """The file whatever its workspace: for a download whose URL was signed."""
        with self._db.session() as session:
            return File.from_row(_readable_row(session, file_id, None, None))

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
        query = select(FileRow).where(*_readable(workspace_id, key_id))
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
            row = _readable_row(session, file_id, workspace_id, key_id)
            row.deleted = True
            blob_key = row.blob_key
        self._blobs.delete(blob_key)

    def purge_expired(self) -> int:
        """Mark every expired file deleted and remove its bytes; return how many."""
        with self._db.session() as session, session.begin():
            rows = session.scalars(
                select(FileRow).where(~FileRow.deleted, FileRow.expires_at <= utcnow()).limit(1000)
            ).all()
            for row in rows:
                row.deleted = True
            keys = [row.blob_key for row in rows]
        for key in keys:
            self._blobs.delete(key)
        return len(keys)

    def content(self, file: File) -> Iterator[bytes]:
        """The file's bytes; ``FileContentMissing`` before any byte when this process's blob
        store does not hold them (uploaded through a process with another data directory)."""
        try:
            return self._blobs.read(file.blob_key)
        except FileNotFoundError:
            raise FileContentMissing(file.id) from None


def _readable(workspace_id: str | None, key_id: str | None) -> list[ColumnElement[bool]]:
    """What a file must be for ``key_id`` to read it in ``workspace_id``: not deleted, not
    expired, and shared with the workspace unless that key uploaded it. ``None`` waives a
    part (a signed URL names no workspace; a job reads its workspace's files)."""
    where = [
        ~FileRow.deleted,
        or_(FileRow.expires_at.is_(None), FileRow.expires_at > utcnow()),
    ]
    if workspace_id is not None:
        where.append(FileRow.workspace_id == workspace_id)
    if key_id is not None:
        where.append(or_(FileRow.visibility != "user", FileRow.key_id == key_id))
    return where


def _readable_row(
    session: Session, file_id: str, workspace_id: str | None, key_id: str | None
) -> FileRow:
    row = session.scalars(
        select(FileRow).where(FileRow.id == file_id, *_readable(workspace_id, key_id))
    ).first()
    if row is None:
        raise NotFound("file", file_id)
    return row
