"""A stand-in for the embedding model at the expensive edge: words are tokens, and each text's
vector is a fixed function of its words, so tests can predict every number."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from autan.embeddings.model import EmbeddingBatch
from autan.errors import InputTooLong


class FakeEmbedder:
    """``dimension`` components; a text counts one token per word plus two (as [CLS], [SEP])."""

    def __init__(self, dimension: int = 16, max_tokens: int = 12) -> None:
        self.dimension = dimension
        self.max_tokens = max_tokens
        self.description = "fake embedder"
        self.calls: list[list[str]] = []

    def vector(self, text: str) -> np.ndarray:
        rng = np.random.default_rng(zlib.crc32(text.encode()))
        v = rng.standard_normal(self.dimension).astype(np.float32)
        return v / np.linalg.norm(v)

    def embed(self, texts: Sequence[str]) -> EmbeddingBatch:
        self.calls.append(list(texts))
        counts = [len(t.split()) + 2 for t in texts]
        for index, n in enumerate(counts):
            if n > self.max_tokens:
                raise InputTooLong(index, n, self.max_tokens)
        return EmbeddingBatch(np.stack([self.vector(t) for t in texts]), counts)
