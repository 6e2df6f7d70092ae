"""Where fine-tuning jobs read their data: the one seam to the Files API.

A job names files by id; ``TrainingFiles.open`` gives the path of a file's bytes on this
machine, for the workspace that asks. ``DirectoryTrainingFiles`` keeps them as
``<directory>/<workspace>/<file_id>.jsonl`` (or ``<directory>/<file_id>.jsonl``, shared), which is
what tests and a server without the Files API use.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from autan.errors import NotFound, TrainingFileNotFound
from autan.files.file_store import FileStore

_SAFE_ID = re.compile(r"[A-Za-z0-9._-]+")


class TrainingFiles(Protocol):
    def open(self, file_id: str, workspace_id: str) -> Path:
        """The file's content on disk; raises ``TrainingFileNotFound`` when the workspace has
        no such file."""
        ...


class DirectoryTrainingFiles:
    """Files as ``<file_id>.jsonl`` in a directory, per workspace or shared."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def open(self, file_id: str, workspace_id: str) -> Path:
        if not _SAFE_ID.fullmatch(file_id) or file_id.startswith("."):
            raise TrainingFileNotFound(file_id)
        for candidate in (
            self.directory / workspace_id / f"{file_id}.jsonl",
            self.directory / f"{file_id}.jsonl",
        ):
            if candidate.is_file():
                return candidate
        raise TrainingFileNotFound(file_id)


class StoredTrainingFiles:
    """Files uploaded through ``/v1/files``: each is copied once out of the blob store into
    ``directory`` (the trainer process reads a plain path)."""

    def __init__(self, files: FileStore, directory: Path) -> None:
        self._files = files
        self.directory = directory

    def open(self, file_id: str, workspace_id: str) -> Path:
        try:
            file = self._files.get(workspace_id, file_id)
        except NotFound as e:
            raise TrainingFileNotFound(file_id) from e
        path = self.directory / workspace_id / f"{file.id}.jsonl"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            with tmp.open("wb") as out:
                for chunk in self._files.content(file):
                    out.write(chunk)
            tmp.replace(path)
        return path
