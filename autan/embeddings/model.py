"""A sentence-embedding model: a BERT-style ONNX graph, its tokenizer, and our own pooling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from autan.embeddings.packaged import packaged_embedding_files
from autan.errors import InputTooLong
from autan.settings import EmbeddingSettings


@dataclass(frozen=True, slots=True)
class EmbeddingBatch:
    """Unit-length vectors, shape (n, dimension), and the tokens each text counted."""

    vectors: npt.NDArray[np.float32]
    token_counts: list[int]


class Embedder(Protocol):
    """What the service needs of a model; ``EmbeddingModel`` and the tests' fake provide it."""

    dimension: int
    max_tokens: int
    description: str | None

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]: ...

    def embed_tokens(self, ids: Sequence[list[int]]) -> npt.NDArray[np.float32]: ...


class EmbeddingModel:
    """Runs synchronously on the caller's thread; the service keeps it off the event loop.

    Texts are tokenized whole (with [CLS] and [SEP]); one longer than ``max_tokens`` is refused
    rather than cut, as La Plateforme refuses inputs beyond the model's context, so a vector
    never silently stands for part of its text. Texts are sorted by length and run in
    sub-batches of ``batch_size`` so that each ONNX run pads to a similar length.
    """

    def __init__(
        self,
        onnx_path: Path,
        tokenizer_path: Path,
        *,
        max_tokens: int,
        threads: int,
        batch_size: int,
        description: str | None = None,
    ) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle pool threads would otherwise spin on the cores the chat engine decodes on; on
        # 2 busy cores not spinning also made one-sentence requests faster (7 ms against 13).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._output = self._session.get_outputs()[0].name
        self.dimension = int(self._session.get_outputs()[0].shape[-1])
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The shipped tokenizer.json pads and cuts everything to 128; we measure whole texts
        # and pad each sub-batch to its own longest text instead.
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._pad_id = tokenizer.token_to_id("[PAD]") or 0
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.description = description

    @classmethod
    def load_packaged(cls, settings: EmbeddingSettings) -> EmbeddingModel:
        files = packaged_embedding_files()
        return cls(
            files.onnx,
            files.tokenizer,
            max_tokens=files.max_tokens,
            threads=settings.threads,
            batch_size=settings.batch_size,
            description=files.description,
        )

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of every text; raises ``InputTooLong`` naming the first one over the limit."""
        ids = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        for index, row in enumerate(ids):
            if len(row) > self.max_tokens:
                raise InputTooLong(index, len(row), self.max_tokens)
        return ids

    def embed(self, texts: Sequence[str]) -> EmbeddingBatch:
        ids = self.tokenize(texts)
        return EmbeddingBatch(self.embed_tokens(ids), [len(row) for row in ids])

    def embed_tokens(self, ids: Sequence[list[int]]) -> npt.NDArray[np.float32]:
        """Unit vectors, shape (len(ids), dimension), in the order of ``ids``."""
        vectors = np.empty((len(ids), self.dimension), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            vectors[chunk] = self._run([ids[i] for i in chunk])
        return vectors

    def _run(self, ids: list[list[int]]) -> npt.NDArray[np.float32]:
        longest = max(len(row) for row in ids)
        input_ids = np.full((len(ids), longest), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), longest), dtype=np.int64)
        for r, row in enumerate(ids):
            input_ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        (hidden,) = self._session.run([self._output], feed)  # (batch, seq, dim)
        # Mean over the real tokens only, then unit length: sentence-transformers'
        # Pooling(mean) + Normalize, which the model was trained with.
        weights = mask.astype(np.float32)
        summed = np.einsum("bsd,bs->bd", hidden.astype(np.float32), weights)
        pooled = summed / np.maximum(weights.sum(axis=1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: npt.NDArray[np.float32] = pooled / np.maximum(norms, 1e-12)
        return unit
