"""Where fine-tuning jobs read their data: the one seam to the Files API.

A job names files by id. ``TrainingFiles.check`` says whether a caller may read a file (the
Files API's own rule: its workspace's files, not another key's private ones); ``copy`` puts a
copy of its bytes where a job needs them, for as long as it needs them: the job deletes its
copies when it ends, so a file deleted through ``/v1/files`` leaves no bytes behind once no job
uses it. ``DirectoryTrainingFiles`` keeps files as ``<directory>/<workspace>/<file_id>.jsonl``
(or ``<directory>/<file_id>.jsonl``, shared), which is what tests and a server without the Files
API use.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Protocol

from autan.errors import NotFound, TrainingFileNotFound
from autan.files.file import File
from autan.files.file_store import FileStore

_SAFE_ID = re.compile(r"[A-Za-z0-9._-]+")


class TrainingFiles(Protocol):
    def check(self, file_id: str, workspace_id: str, key_id: str | None) -> None:
        """Raise ``TrainingFileNotFound`` unless ``key_id`` may read the file in the workspace
        (``None``: the workspace's own job, or a server without keys)."""
        ...

    def copy(self, file_id: str, workspace_id: str, key_id: str | None, into: Path) -> Path:
        """Copy the file's bytes into the directory ``into``; the copy's path. Raises as
        ``check`` does."""
        ...


class DirectoryTrainingFiles:
    """Files as ``<file_id>.jsonl`` in a directory, per workspace or shared."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, file_id: str, workspace_id: str) -> Path:
        if not _SAFE_ID.fullmatch(file_id) or file_id.startswith("."):
            raise TrainingFileNotFound(file_id)
        for candidate in (
            self.directory / workspace_id / f"{file_id}.jsonl",
            self.directory / f"{file_id}.jsonl",
        ):
            if candidate.is_file():
                return candidate
        raise TrainingFileNotFound(file_id)

    def check(self, file_id: str, workspace_id: str, key_id: str | None) -> None:
        self._path(file_id, workspace_id)

    def copy(self, file_id: str, workspace_id: str, key_id: str | None, into: Path) -> Path:
        into.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copyfile(self._path(file_id, workspace_id), into / f"{file_id}.jsonl"))


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
