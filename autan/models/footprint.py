"""What a GGUF will cost in memory, read from its header without loading its weights."""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from pathlib import Path

import llama_cpp as L

from autan.inference.llama import init_backend

_GGUF_MAGIC = b"GGUF"
_KV_CELL_ELEMENT_BYTES = 2  # llama.cpp's default KV cache type is f16


class GgufUnreadable(ValueError):
    """The path is not a GGUF file that libllama can read."""


@dataclass(frozen=True, slots=True)
class Footprint:
    """A GGUF's size and shape: enough to name it, size its context and budget its memory."""

    path: Path
    name: str | None  # general.name
    description: str  # architecture and size label, e.g. "llama 135M"
    context_train: int
    file_bytes: int
    kv_bytes_per_cell: int  # K and V of every layer for one token
    # Has fill-in-the-middle tokens: declared (tokenizer.ggml.fim_*_token_id), or found by
    # llama.cpp in the vocabulary by their text (<|fim_prefix|>, <|fim_suffix|>, <|fim_middle|>)
    fim: bool = False

    @classmethod
    def read(cls, path: Path) -> Footprint:
        """Read the header's metadata with libllama's ``vocab_only`` load (no tensors)."""
        try:
            with path.open("rb") as f:
                magic = f.read(4)
            size = path.stat().st_size
        except OSError as e:
            raise GgufUnreadable(f"cannot read {path}: {e.strerror or e}") from e
        if magic != _GGUF_MAGIC:
            raise GgufUnreadable(f"{path} is not a GGUF file (it does not start with 'GGUF')")
        init_backend(verbose=False)
        params = L.llama_model_default_params()
        params.vocab_only = True
        params.n_gpu_layers = 0
        model = L.llama_model_load_from_file(str(path).encode(), params)
        if not model:
            raise GgufUnreadable(f"llama.cpp cannot load {path} (corrupt, or unknown architecture)")
        try:
            # vocab_only leaves libllama's hyper-parameters unset: read the metadata itself.
            vocab = L.llama_model_get_vocab(model)
            fim = all(
                int(token(vocab)) >= 0
                for token in (L.llama_vocab_fim_pre, L.llama_vocab_fim_mid, L.llama_vocab_fim_suf)
            )
            return cls._from_metadata(path, size, _Metadata(model), fim=fim)
        finally:
            L.llama_model_free(model)

    @classmethod
    def _from_metadata(cls, path: Path, size: int, meta: _Metadata, *, fim: bool) -> Footprint:
        arch = meta.text("general.architecture") or "?"
        n_head = meta.number(f"{arch}.attention.head_count") or 1
        n_head_kv = meta.number(f"{arch}.attention.head_count_kv") or n_head
        head_k = meta.number(f"{arch}.attention.key_length") or (
            meta.number(f"{arch}.embedding_length") // n_head
        )
        head_v = meta.number(f"{arch}.attention.value_length") or head_k
        size_label = meta.text("general.size_label")
        return cls(
            path=path,
            name=meta.text("general.name"),
            description=f"{arch} {size_label}" if size_label else arch,
            context_train=meta.number(f"{arch}.context_length"),
            file_bytes=size,
            # layers x kv heads x (K + V head sizes) x element size
            kv_bytes_per_cell=meta.number(f"{arch}.block_count")
            * n_head_kv
            * (head_k + head_v)
            * _KV_CELL_ELEMENT_BYTES,
            fim=fim,
        )

    def context_for(self, wanted: int) -> int:
        """Cells per sequence: what is wanted, capped at the training context when known."""
        return min(wanted, self.context_train) if self.context_train > 0 else wanted

    def memory_bytes(self, context: int, streams: int) -> int:
        """Weights (the file, mapped) plus the KV cache of ``streams`` sequences."""
        return self.file_bytes + self.kv_bytes_per_cell * context * streams


class _Metadata:
    """The GGUF key/value metadata of a loaded (even ``vocab_only``) model, as text."""

    def __init__(self, model: object) -> None:
        self._model = model

    def text(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(256)
        if L.llama_model_meta_val_str(self._model, key.encode(), buf, len(buf)) < 0:
            return None
        return buf.value.decode("utf-8", "replace")

    def number(self, key: str) -> int:
        """An integer value, 0 when absent; per-layer arrays count their largest entry."""
        values = [int(v) for v in re.findall(r"\d+", self.text(key) or "")]
        return max(values, default=0)
