"""Where fine-tuning jobs read their data: the one seam to the Files API.

A job names files by id. ``TrainingFiles.check`` says whether a caller may read a file (the
Files API's own rule: its workspace's files, not another key's private ones); ``copy`` puts a
copy of its bytes where a job needs them, for as long as it needs them: the job deletes its
copies when it ends, so a file deleted through ``/v1/files`` leaves no bytes behind once no job
uses it. ``StoredTrainingFiles`` reads them out of the Files API's store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from autan.errors import NotFound, TrainingFileNotFound
from autan.files.file import File
from autan.files.file_store import FileStore


class TrainingFiles(Protocol):
    def check(self, file_id: str, workspace_id: str, key_id: str | None) -> None:
        """Raise ``TrainingFileNotFound`` unless ``key_id`` may read the file in the workspace
        (``None``: the workspace's own job, or a server without keys)."""
        ...

    def copy(self, file_id: str, workspace_id: str, key_id: str | None, into: Path) -> Path:
        """Copy the file's bytes into the directory ``into``; the copy's path. Raises as
        ``check`` does."""
        ...


class StoredTrainingFiles:
    """Files uploaded through ``/v1/files``, read out of the blob store when a job needs them
    (the trainer process reads a plain path)."""

    def __init__(self, files: FileStore) -> None:
        self._files = files

    def _file(self, file_id: str, workspace_id: str, key_id: str | None) -> File:
        try:
            return self._files.get(workspace_id, file_id, key_id=key_id)
        except NotFound as e:
            raise TrainingFileNotFound(file_id) from e

    def check(self, file_id: str, workspace_id: str, key_id: str | None) -> None:
        self._file(file_id, workspace_id, key_id)

    def copy(self, file_id: str, workspace_id: str, key_id: str | None, into: Path) -> Path:
        file = self._file(file_id, workspace_id, key_id)
        into.mkdir(parents=True, exist_ok=True)
        path = into / f"{file.id}.jsonl"
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as out:
            for chunk in self._files.content(file):
                out.write(chunk)
        tmp.replace(path)
        return path
