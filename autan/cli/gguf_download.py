"""A resumable download: bytes go to ``NAME.part`` and are hashed as they come; an interrupted
download continues from where it stopped (HTTP Range); the file takes its name once whole and,
when its sha256 is known, checked."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from autan.cli.command_group import CommandLineError

_CHUNK = 1024 * 1024


class GgufDownload:
    def __init__(self, url: str, target: Path, *, sha256: str | None, headers: dict[str, str]):
        self.url = url
        self.target = target
        self.part = target.with_name(target.name + ".part")
        self.sha256 = sha256.lower() if sha256 else None
        self._headers = headers

    def run(self, console: Console) -> str:
        """Download (or finish downloading) the file; its sha256."""
        digest = hashlib.sha256()
        have = 0
        if self.part.exists():
            with self.part.open("rb") as f:
                while block := f.read(_CHUNK):
                    digest.update(block)
            have = self.part.stat().st_size
        headers = dict(self._headers)
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with httpx.stream(
                "GET", self.url, headers=headers, follow_redirects=True, timeout=60
            ) as r:
                if r.status_code == 416 and have:  # the part file is whole already
                    pass
                elif r.status_code == 206 and have:
                    self._write(r, console, digest, have, "ab")
                elif r.status_code == 200:
                    digest = hashlib.sha256()  # no resuming here: start again
                    self._write(r, console, digest, 0, "wb")
                else:
                    raise CommandLineError(f"{self.url} answered {r.status_code}")
        except httpx.TransportError as e:
            raise CommandLineError(
                f"download of {self.url} broke off: {e}; run the same command again to resume"
            ) from e
        found = digest.hexdigest()
        if self.sha256 is not None and found != self.sha256:
            self.part.unlink()
            raise CommandLineError(
                f"{self.target.name}: sha256 {found} is not the {self.sha256} expected; "
                "the download was deleted"
            )
        self.part.replace(self.target)
        return found

    def _write(
        self,
        r: httpx.Response,
        console: Console,
        digest: hashlib._Hash,
        start: int,
        mode: str,
    ) -> None:
        length = r.headers.get("content-length")
        total = start + int(length) if length and length.isdigit() else None
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as progress, self.part.open(mode) as out:
            task = progress.add_task(self.target.name, total=total, completed=start)
            for block in r.iter_bytes(_CHUNK):
                out.write(block)
                digest.update(block)
                progress.advance(task, len(block))
