"""What the layers above need to know about a loaded model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the layers above need to know about a loaded GGUF."""

    path: Path
    description: str
    n_vocab: int
    context_train: int
    chat_template: str | None
    bos_text: str
    eos_text: str
    add_bos: bool
    metadata: dict[str, str]
    bos: int = -1
    fim: tuple[int, int, int] | None = None  # (prefix, middle, suffix) ids the GGUF declares
