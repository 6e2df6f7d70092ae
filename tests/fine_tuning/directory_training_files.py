"""Training files as plain files in a directory, for tests of the fine-tuning service that
do not need the Files API."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from autan.errors import TrainingFileNotFound

_SAFE_ID = re.compile(r"[A-Za-z0-9._-]+")


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
