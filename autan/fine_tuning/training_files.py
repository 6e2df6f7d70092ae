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

from autan.errors import TrainingFileNotFound

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]+$")


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
        if not _SAFE_ID.match(file_id) or file_id.startswith("."):
            raise TrainingFileNotFound(file_id)
        for candidate in (
            self.directory / workspace_id / f"{file_id}.jsonl",
            self.directory / f"{file_id}.jsonl",
        ):
            if candidate.is_file():
                return candidate
        raise TrainingFileNotFound(file_id)
