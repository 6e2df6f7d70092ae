"""One trainer process, seen from the server: started, read through its progress file, killed.

The trainer (``autan.fine_tuning.trainer``) appends JSON lines to ``progress.jsonl``; this reads
the lines it has not read yet. Nothing else passes between the two processes, so a trainer that
crashes, runs out of memory or is killed leaves the server as it was.

The trainer never outlives the server: it runs in a process group of its own, killed whole when
the server stops it, and asks Linux to kill it when the server dies (``kill -9`` included). It
holds its run directory's lock while it lives, so a second trainer on the same directory
refuses to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from autan.fine_tuning.training_config import LOG_FILE, PARENT_PID_ENV, PROGRESS_FILE


class TrainerProcess:
    def __init__(self, run_dir: Path, proc: asyncio.subprocess.Process, offset: int) -> None:
        self.run_dir = run_dir
        self._proc = proc
        self._offset = offset  # bytes of the progress file already read
        self._partial = b""

    @classmethod
    async def start(cls, run_dir: Path) -> TrainerProcess:
        """Start ``python -m autan.fine_tuning.trainer run_dir``; its output goes to
        ``trainer.log``. The progress file is read from its start, lines of an earlier process
        on the same run directory (a resumed job) included: the server may have died before
        reading them."""
        with (run_dir / LOG_FILE).open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "autan.fine_tuning.trainer",
                str(run_dir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, PARENT_PID_ENV: str(os.getpid())},
                start_new_session=True,  # its own process group, killed whole
            )
        return cls(run_dir, proc, 0)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    def read_progress(self) -> list[dict[str, Any]]:
        """The complete lines appended since the last call."""
        path = self.run_dir / PROGRESS_FILE
        if not path.exists():
            return []
        with path.open("rb") as f:
            f.seek(self._offset)
            data = self._partial + f.read()
        self._offset += len(data) - len(self._partial)
        *lines, self._partial = data.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    async def wait(self, timeout: float) -> int | None:
        """The exit code, or None if it still runs after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self._proc.wait(), timeout)
        except TimeoutError:
            return None

    async def kill(self) -> None:
        """Kill the trainer and anything it started, and wait for it: its run directory's
        lock is free once this returns."""
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
                os.killpg(self._proc.pid, signal.SIGKILL)
            await self._proc.wait()

    def log_tail(self, lines: int = 5) -> str:
        path = self.run_dir / LOG_FILE
        if not path.exists():
            return ""
        text = path.read_text(errors="replace").strip().splitlines()
        return "\n".join(text[-lines:])
