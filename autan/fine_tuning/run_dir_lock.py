"""One trainer per run directory: an exclusive ``flock`` on ``trainer.lock`` in it, held for the
trainer's whole life and released by the kernel when it exits, however it exits.

Two trainers on one run directory would write the same checkpoint and adapter files; the
second one to start refuses instead (``RunDirBusy``).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

LOCK_FILE = "trainer.lock"


class RunDirBusy(Exception):
    """Another live process holds the run directory."""

    def __init__(self, run_dir: Path, holder: str) -> None:
        super().__init__(f"run directory {run_dir} is in use by another trainer (pid {holder})")


class RunDirLock:
    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Hold the directory, or raise ``RunDirBusy`` at once if another process does."""
        f = self.path.open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise RunDirBusy(self.path.parent, holder) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f

    def held_elsewhere(self) -> bool:
        """Whether some process holds the lock now (this object not holding it)."""
        if not self.path.exists():
            return False
        with self.path.open("a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the last descriptor releases the flock
            self._file = None
