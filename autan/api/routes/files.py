"""``/v1/files``: upload, list, retrieve, delete, download, signed URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, get_args

from fastapi import APIRouter, Query, Request
from fastapi.security import HTTPBearer
from starlette.datastructures import UploadFile
from starlette.responses import StreamingResponse

from autan.api.deps import ApiKeyDep, BatchSystemDep, authenticate, key_of, workspace_of
from autan.errors import FileTooLarge, InvalidRequest, NotFound
from autan.files.file import File
from autan.files.file_store import FileFilter
from autan.protocol.files import (
    FileDeletedPublic,
    FileListPublic,
    FilePublic,
    FilePurpose,
    FileRetrievedPublic,
    FileSignedUrlPublic,
)
from autan.storage.blob_store import CHUNK
from autan.storage.tables import utcnow

router = APIRouter(tags=["files"])
_bearer = HTTPBearer(auto_error=False)
# Room for the multipart envelope (boundaries, part headers, the small form fields).
_FORM_OVERHEAD = 64 * 1024
_MAX_EXPIRY_HOURS = 24 * 365


def _expiry(value: object) -> datetime | None:
    """The upload's ``expiry``: hours the file lives (none: until deleted)."""
    if value is None or value == "":
        return None
    text = str(value)
    if not text.isdigit() or not 1 <= int(text) <= _MAX_EXPIRY_HOURS:
        raise InvalidRequest(
            f"expiry is a number of hours from 1 to {_MAX_EXPIRY_HOURS}, not {text!r}",
            param="expiry",
        )
    return utcnow() + timedelta(hours=int(text))


def file_public(file: File) -> FilePublic:
    return FilePublic(
        id=file.id,
        bytes=file.bytes,
        created_at=int(file.created_at.replace(tzinfo=UTC).timestamp()),
        filename=file.filename,
        purpose=file.purpose,
        sample_type=file.sample_type,
        source=file.source,
        num_lines=file.num_lines,
        mimetype=file.mimetype,
        visibility=file.visibility,
        expires_at=None
        if file.expires_at is None
        else int(file.expires_at.replace(tzinfo=UTC).timestamp()),
    )


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


@router.post("/v1/files", response_model=FilePublic)
async def upload_file(request: Request, meter: ApiKeyDep, system: BatchSystemDep) -> FilePublic:
    """Upload a file (``multipart/form-data``: ``file``, ``purpose`` fine-tune | batch | ocr).
    The bytes go to the blob store chunk by chunk; past the size limit the answer is 413."""
    workspace_id = workspace_of(meter)
    limit = system.files.max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _FORM_OVERHEAD:
        raise FileTooLarge(limit)
    async with request.form(max_files=1, max_fields=16) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidRequest("The form needs a 'file' part holding the file", param="file")
        purpose = str(form.get("purpose") or "fine-tune")
        if purpose not in get_args(FilePurpose):
            raise InvalidRequest(
                f"purpose must be one of {', '.join(get_args(FilePurpose))}, not {purpose!r}",
                param="purpose",
            )
        visibility = str(form.get("visibility") or "workspace")
        if visibility not in ("workspace", "user"):
            raise InvalidRequest(
                f"visibility must be 'workspace' or 'user', not {visibility!r}",
                param="visibility",
            )
        expires_at = _expiry(form.get("expiry"))
        file = await system.files.create(
            workspace_id,
            _chunks(upload),
            filename=upload.filename or "upload",
            purpose=purpose,
            key_id=meter.key.id if meter else None,
            mimetype=upload.content_type,
            visibility=visibility,
            expires_at=expires_at,
        )
    return file_public(file)


@router.get("/v1/files", response_model=FileListPublic)
async def list_files(
    meter: ApiKeyDep,
    system: BatchSystemDep,
    page: int = Query(0, ge=0),
    page_size: int = Query(100, ge=1, le=1000),
    include_total: bool = True,
    sample_type: Annotated[list[str] | None, Query()] = None,
    source: Annotated[list[str] | None, Query()] = None,
    search: str | None = None,
    purpose: str | None = None,
    mimetypes: Annotated[list[str] | None, Query()] = None,
) -> FileListPublic:
    """This workspace's files, newest first."""
    where = FileFilter(
        purpose=purpose,
        sample_types=sample_type or (),
        sources=source or (),
        mimetypes=mimetypes or (),
        search=search,
    )
    files, total = system.files.list(
        workspace_of(meter), where, page=page, page_size=page_size, key_id=key_of(meter)
    )
    return FileListPublic(
        data=[file_public(f) for f in files], total=total if include_total else None
    )


@router.get("/v1/files/{file_id}", response_model=FileRetrievedPublic)
async def retrieve_file(
    file_id: str, meter: ApiKeyDep, system: BatchSystemDep
) -> FileRetrievedPublic:
    file = system.files.get(workspace_of(meter), file_id, key_id=key_of(meter))
    return FileRetrievedPublic(**file_public(file).model_dump(), deleted=False)


@router.delete("/v1/files/{file_id}", response_model=FileDeletedPublic)
async def delete_file(file_id: str, meter: ApiKeyDep, system: BatchSystemDep) -> FileDeletedPublic:
    system.files.delete(workspace_of(meter), file_id, key_id=key_of(meter))
    return FileDeletedPublic(id=file_id)


@router.get(
    "/v1/files/{file_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_file(
    file_id: str,
    request: Request,
    system: BatchSystemDep,
    expires: int | None = None,
    signature: str | None = None,
) -> StreamingResponse:
    """The file's bytes. With a key, any file of its workspace; without one, a URL signed by
    ``GET /v1/files/{file_id}/url`` until it expires."""
    if signature is not None:
        if expires is None or not system.signer.valid(file_id, expires, signature):
            raise NotFound("file", file_id)
        file = system.files.get_any(file_id)
    else:
        meter = await authenticate(request, await _bearer(request))
        file = system.files.get(workspace_of(meter), file_id, key_id=key_of(meter))
    return StreamingResponse(
        system.files.content(file),
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(file.bytes),
            "Content-Disposition": f'attachment; filename="{file.filename}"',
        },
    )


@router.get("/v1/files/{file_id}/url", response_model=FileSignedUrlPublic)
async def file_url(
    file_id: str,
    request: Request,
    meter: ApiKeyDep,
    system: BatchSystemDep,
    expiry: int | None = Query(None, ge=1, le=168),
) -> FileSignedUrlPublic:
    """A URL that downloads the file without a key, for ``expiry`` hours (24 by default)."""
    file = system.files.get(workspace_of(meter), file_id, key_id=key_of(meter))
    hours = expiry or system.files_settings.url_expiry_hours
    expires, signature = system.signer.sign(file.id, hours)
    base = str(request.base_url).rstrip("/")
    return FileSignedUrlPublic(
        url=f"{base}/v1/files/{file.id}/content?expires={expires}&signature={signature}"
    )
