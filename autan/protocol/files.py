"""Files: ``/v1/files`` (Mistral API v1 section 7)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

FilePurpose = Literal["fine-tune", "batch", "ocr"]
SampleType = Literal["pretrain", "instruct", "batch_request", "batch_result", "batch_error"]
FileSource = Literal["upload", "repository", "mistral"]
FileVisibility = Literal["workspace", "user"]


class FilePublic(BaseModel):
    id: str
    object: Literal["file"] = "file"
    # Never null: the SDK refuses a file whose bytes are null, whatever the spec's example says.
    bytes: int
    created_at: int
    filename: str
    purpose: FilePurpose
    sample_type: SampleType
    source: FileSource
    num_lines: int | None = None
    mimetype: str | None = None
    signature: str | None = None
    expires_at: int | None = None
    visibility: FileVisibility | None = "workspace"


class FileRetrievedPublic(FilePublic):
    deleted: bool = False


class FileListPublic(BaseModel):
    object: Literal["list"] = "list"
    data: list[FilePublic]
    total: int | None = None


class FileDeletedPublic(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool = True


class FileSignedUrlPublic(BaseModel):
    url: str
