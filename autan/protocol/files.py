"""Files: ``/v1/files`` (Mistral API v1 section 7)."""

from __future__ import annotations

from typing import Literal

from autan.protocol.public import Nullable, PublicModel

FilePurpose = Literal["fine-tune", "batch", "ocr"]
SampleType = Literal["pretrain", "instruct", "batch_request", "batch_result", "batch_error"]
FileSource = Literal["upload", "repository", "mistral"]
FileVisibility = Literal["workspace", "user"]


class FilePublic(PublicModel):
    id: str
    object: Literal["file"] = "file"
    # Never null: the SDK refuses a file whose bytes are null, whatever the spec's example says.
    bytes: int
    created_at: int
    filename: str
    purpose: FilePurpose
    sample_type: SampleType
    source: FileSource
    num_lines: Nullable[int] = None
    mimetype: Nullable[str] = None
    signature: Nullable[str] = None
    expires_at: Nullable[int] = None
    visibility: Nullable[FileVisibility] = "workspace"


class FileRetrievedPublic(FilePublic):
    deleted: bool = False


class FileListPublic(PublicModel):
    object: Literal["list"] = "list"
    data: list[FilePublic]
    total: Nullable[int] = None


class FileDeletedPublic(PublicModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool = True


class FileSignedUrlPublic(PublicModel):
    url: str
