"""A stand-in for the embedding model at the expensive edge: words are tokens, and each text's
vector is a fixed function of its tokens, so tests can predict every number."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Sequence

import numpy as np

from autan.errors import InputTooLong

CLS, SEP = 101, 102


class FakeEmbedder:
    """``dimension`` components; a text counts one token per word plus [CLS] and [SEP].

    ``runs`` records how many texts each ``embed_tokens`` call got. With ``gated`` the first
    call waits for ``gate`` (and sets ``entered``), so a test can queue requests behind it.
    """

    def __init__(self, dimension: int = 16, max_tokens: int = 12, *, gated: bool = False):
        self.dimension = dimension
        self.max_tokens = max_tokens
        self.description = "fake embedder"
        self.tokenized: list[list[str]] = []
        self.runs: list[int] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        if not gated:
            self.gate.set()

    def ids(self, text: str) -> list[int]:
        return [CLS, *(1000 + zlib.crc32(w.encode()) % 30000 for w in text.split()), SEP]

    def vector(self, text: str) -> np.ndarray:
        rng = np.random.default_rng(self.ids(text))
        v = rng.standard_normal(self.dimension).astype(np.float32)
        return v / np.linalg.norm(v)

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        self.tokenized.append(list(texts))
        ids = [self.ids(t) for t in texts]
        for index, row in enumerate(ids):
            if len(row) > self.max_tokens:
                raise InputTooLong(index, len(row), self.max_tokens)
        return ids

    def embed_tokens(self, ids: Sequence[list[int]]) -> np.ndarray:
        self.entered.set()
        assert self.gate.wait(10), "the test never opened the gate"
        self.runs.append(len(ids))
        rows = []
        for row in ids:
            v = np.random.default_rng(row).standard_normal(self.dimension).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.stack(rows)
