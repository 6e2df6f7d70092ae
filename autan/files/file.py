"""A stored file as the rest of autan sees it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from autan.storage.job_tables import FileRow


@dataclass(frozen=True, slots=True)
class File:
    id: str
    workspace_id: str
    filename: str
    purpose: str
    sample_type: str
    source: str
    mimetype: str | None
    bytes: int
    sha256: str
    num_lines: int | None
    visibility: str
    blob_key: str
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def from_row(cls, row: FileRow) -> File:
        return cls(
            id=row.id,
            workspace_id=row.workspace_id,
            filename=row.filename,
            purpose=row.purpose,
            sample_type=row.sample_type,
            source=row.source,
            mimetype=row.mimetype,
            bytes=row.bytes,
            sha256=row.sha256,
            num_lines=row.num_lines,
            visibility=row.visibility,
            blob_key=row.blob_key,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )
