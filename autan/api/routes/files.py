"""``/v1/files``: upload, list, retrieve, delete, download, signed URL.

Every database read and write runs on the thread pool, never on the event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, get_args
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import StreamingResponse
from starlette.types import Message

from autan.api.deps import (
    BatchSystemDep,
    MeterDep,
    authenticate,
    key_of,
    platform_of,
    workspace_of,
)
from autan.errors import FileTooLarge, InvalidRequest, NotFound
from autan.files.file import File
from autan.files.file_store import FileFilter
from autan.protocol.fields import (
    FILENAME_LENGTH,
    MIMETYPE_LENGTH,
    Filter,
    Identifier,
    PageIndex,
    storable_text_error,
)
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


def _limited(request: Request, limit: int) -> Request:
    """The request, whose body stops with a 413 as soon as more than ``limit`` bytes (the
    file's limit plus the form's envelope) have come, whether the client declared a length
    or sent it chunked: the form parser never spools more than that."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit + _FORM_OVERHEAD:
                raise FileTooLarge(limit)
        return message

    return Request(request.scope, receive)


def _form_text(value: str, param: str, max_length: int) -> str:
    """A form field or part header kept in the database: storable, and short enough."""
    problem = storable_text_error(value)
    if problem is None and len(value) > max_length:
        problem = f"must be at most {max_length} characters"
    if problem is not None:
        raise InvalidRequest(f"The {param} {problem}", param=param)
    return value


@router.post("/v1/files", response_model=FilePublic)
async def upload_file(request: Request, meter: MeterDep, system: BatchSystemDep) -> FilePublic:
    """Upload a file (``multipart/form-data``: ``file``, ``purpose`` fine-tune | batch | ocr).
    The bytes go to the blob store chunk by chunk; past the size limit the answer is 413."""
    workspace_id = workspace_of(meter)
    limit = system.files.max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _FORM_OVERHEAD:
        raise FileTooLarge(limit)
    async with _limited(request, limit).form(max_files=1, max_fields=16) as form:
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
        filename = _form_text(upload.filename or "upload", "file name", FILENAME_LENGTH)
        mimetype = upload.content_type
        if mimetype is not None:
            mimetype = _form_text(mimetype, "file's content type", MIMETYPE_LENGTH)
        file = await system.files.create(
            workspace_id,
            _chunks(upload),
            filename=filename,
            purpose=purpose,
            key_id=meter.key.id if meter else None,
            mimetype=mimetype,
            visibility=visibility,
            expires_at=expires_at,
        )
    return file_public(file)


@router.get("/v1/files", response_model=FileListPublic)
async def list_files(
    meter: MeterDep,
    system: BatchSystemDep,
    page: PageIndex = 0,
    page_size: int = Query(100, ge=1, le=1000),
    include_total: bool = True,
    sample_type: Annotated[list[Filter] | None, Query()] = None,
    source: Annotated[list[Filter] | None, Query()] = None,
    search: Filter | None = None,
    purpose: Filter | None = None,
    mimetypes: Annotated[list[Filter] | None, Query()] = None,
) -> FileListPublic:
    """This workspace's files, newest first."""
    where = FileFilter(
        purpose=purpose,
        sample_types=sample_type or (),
        sources=source or (),
        mimetypes=mimetypes or (),
        search=search,
    )
    files, total = await run_in_threadpool(
        system.files.list,
        workspace_of(meter),
        where,
        page=page,
        page_size=page_size,
        key_id=key_of(meter),
    )
    return FileListPublic(
        data=[file_public(f) for f in files], total=total if include_total else None
    )


@router.get("/v1/files/{file_id}", response_model=FileRetrievedPublic)
async def retrieve_file(
    file_id: Identifier, meter: MeterDep, system: BatchSystemDep
) -> FileRetrievedPublic:
    file = await run_in_threadpool(
        system.files.get, workspace_of(meter), file_id, key_id=key_of(meter)
    )
    return FileRetrievedPublic(**file_public(file).model_dump(), deleted=False)


@router.delete("/v1/files/{file_id}", response_model=FileDeletedPublic)
async def delete_file(
    file_id: Identifier, meter: MeterDep, system: BatchSystemDep
) -> FileDeletedPublic:
    await run_in_threadpool(system.files.delete, workspace_of(meter), file_id, key_id=key_of(meter))
    return FileDeletedPublic(id=file_id)


@router.get(
    "/v1/files/{file_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_file(
    file_id: Identifier,
    request: Request,
    system: BatchSystemDep,
    expires: int | None = None,
    signature: Annotated[str | None, Query(max_length=128)] = None,
) -> StreamingResponse:
    """The file's bytes. With a key, any file of its workspace; without one, a URL signed by
    ``GET /v1/files/{file_id}/url`` until it expires."""
    if signature is not None:
        if expires is None or not system.signer.valid(file_id, expires, signature):
            raise NotFound("file", file_id)
        file = await run_in_threadpool(system.files.get_any, file_id)
    else:
        meter = await authenticate(request, platform_of(request), await _bearer(request))
        file = await run_in_threadpool(
            system.files.get, workspace_of(meter), file_id, key_id=key_of(meter)
        )
    # Opening the content reads the blob store (a database query where that is the store):
    # not on the event loop. Starlette reads the chunks on the thread pool as well.
    content = await run_in_threadpool(system.files.content, file)
    return StreamingResponse(
        content,
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(file.bytes),
            "Content-Disposition": content_disposition(file.filename),
        },
    )


# RFC 5987 ``attr-char``s besides letters and digits: what ``filename*`` may hold unescaped.
_ATTR_CHARS = "!#$&+-.^_`|~"


def content_disposition(filename: str) -> str:
    """``attachment`` naming ``filename`` safely (RFC 6266): a quoted ASCII fallback in which
    anything else (quotes, backslashes, control and non-ASCII characters) is ``_``, and the
    exact name percent-encoded in UTF-8 as ``filename*``."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    encoded = quote(filename, safe=_ATTR_CHARS, encoding="utf-8", errors="strict")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


@router.get("/v1/files/{file_id}/url", response_model=FileSignedUrlPublic)
async def file_url(
    file_id: Identifier,
    meter: MeterDep,
    system: BatchSystemDep,
    expiry: int | None = Query(None, ge=1, le=168),
) -> FileSignedUrlPublic:
    """A URL that downloads the file without a key, for ``expiry`` hours (24 by default). It
    starts with the server's configured public URL (``AUTAN_FILES__PUBLIC_URL``), never with
    the ``Host`` the request named."""
    file = await run_in_threadpool(
        system.files.get, workspace_of(meter), file_id, key_id=key_of(meter)
    )
    hours = expiry or system.files_settings.url_expiry_hours
    expires, signature = system.signer.sign(file.id, hours)
    base = (system.files_settings.public_url or "").rstrip("/")
    return FileSignedUrlPublic(
        url=f"{base}/v1/files/{file.id}/content?expires={expires}&signature={signature}"
    )
