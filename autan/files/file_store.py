"""Files: rows in the database, bytes in a blob store, each scoped to one workspace.

A file of another workspace is answered exactly like a file that does not exist, so ids
cannot be probed across workspaces.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select

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
    ) -> File:
        """Stream ``chunks`` into the blob store, then record the file; 413 past the limit."""
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
            deleted=False,
        )
        try:
            with self._db.session() as session, session.begin():
                session.add(row)
        except BaseException:
            self._blobs.delete(blob.key)
            raise
        return File.from_row(row)

    def get(self, workspace_id: str, file_id: str) -> File:
        with self._db.session() as session:
            row = session.get(FileRow, file_id)
            if row is None or row.deleted or row.workspace_id != workspace_id:
                raise NotFound("file", file_id)
            return File.from_row(row)

    def get_any(self, file_id: str) -> File:
        """The file whatever its workspace: for a download whose URL was signed."""
        with self._db.session() as session:
            row = session.get(FileRow, file_id)
            if row is None or row.deleted:
                raise NotFound("file", file_id)
            return File.from_row(row)

    def list(
        self, workspace_id: str, where: FileFilter, *, page: int, page_size: int
    ) -> tuple[list[File], int]:
        """One page, newest first, and how many files match in all."""
        query = select(FileRow).where(FileRow.workspace_id == workspace_id, ~FileRow.deleted)
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

    def delete(self, workspace_id: str, file_id: str) -> None:
        with self._db.session() as session, session.begin():
            row = session.get(FileRow, file_id)
            if row is None or row.deleted or row.workspace_id != workspace_id:
                raise NotFound("file", file_id)
            row.deleted = True
            blob_key = row.blob_key
        self._blobs.delete(blob_key)

    def content(self, file: File) -> Iterator[bytes]:
        return self._blobs.read(file.blob_key)
