"""The trainer dies with its server, even one killed with SIGKILL, and owns its run directory.

The trainer here blocks reading its training file (a FIFO nobody writes), so it stays alive,
holding its run directory, without loading a model.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autan.fine_tuning.run_dir_lock import RunDirLock
from autan.fine_tuning.trainer import EXIT_RUN_DIR_BUSY
from autan.fine_tuning.trainer_process import TrainerProcess
from autan.fine_tuning.training_config import LOG_FILE
from tests.fine_tuning.minimal import one_step_config

# A server in miniature: starts a trainer the way the job runner does, says its pid, waits.
_PARENT = """
import asyncio, sys
from pathlib import Path
from autan.fine_tuning.trainer_process import TrainerProcess

async def main() -> None:
    proc = await TrainerProcess.start(Path(sys.argv[1]))
    print(proc.pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    """Running, and not a zombie nobody reaped (an orphan's reaper may be slow, or absent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _until(condition: object, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    data = run_dir / "train.jsonl"
    os.mkfifo(data)
    one_step_config(tmp_path, data).write(run_dir)
    yield run_dir


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_the_trainer_dies_with_its_server_and_owns_its_run_directory(run_dir: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(run_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    trainer = 0
    try:
        assert parent.stdout is not None
        trainer = int(parent.stdout.readline())
        assert _until(RunDirLock(run_dir).held_elsewhere), (run_dir / LOG_FILE).read_text()

        # A second trainer on the same run directory refuses while the first holds it.
        async def second() -> int | None:
            proc = await TrainerProcess.start(run_dir)
            try:
                return await proc.wait(60)
            finally:
                await proc.kill()

        assert asyncio.run(second()) == EXIT_RUN_DIR_BUSY
        assert "in use by another trainer" in (run_dir / LOG_FILE).read_text()
        assert _alive(trainer)

        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _until(lambda: not _alive(trainer)), "the trainer outlived its server"
        assert _until(lambda: not RunDirLock(run_dir).held_elsewhere())
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        if trainer and _alive(trainer):
            os.kill(trainer, signal.SIGKILL)
