"""What a request asks the vectors to look like: dimension, number type and encoding."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autan.errors import InvalidRequest
from autan.protocol.embeddings import EmbeddingDtype, EncodingFormat

# Each dtype's wire array, little-endian, as the base64 encoding carries it.
_NUMPY_DTYPE: dict[EmbeddingDtype, np.dtype[np.generic]] = {
    "float": np.dtype("<f4"),
    "int8": np.dtype("i1"),
    "uint8": np.dtype("u1"),
    "binary": np.dtype("i1"),
    "ubinary": np.dtype("u1"),
}

Vectors = npt.NDArray[np.float32]
# One row per vector: integers, floats, or a base64 string.
Encoded = list[list[int] | list[float] | str]


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """Turns unit-length float vectors, shape (n, native dimension), into what goes on the wire.

    1. ``dimension``: keep the first ``dimension`` components and rescale to unit length (the
       model was not trained for shorter vectors, but cosine on a prefix still ranks sensibly).
    2. ``dtype``: ``int8`` is ``round(127 x)`` clipped to [-128, 127]; ``uint8`` is that plus
       128; ``ubinary`` packs one bit per component, 1 where the component is > 0, eight
       components per byte, the first component in the most significant bit, the last byte
       padded with zero bits; ``binary`` is the same bytes minus 128, as signed int8.
    3. ``encoding``: ``float`` sends the numbers as a JSON array; ``base64`` sends the
       little-endian bytes of the array (float32 for ``float``) as one base64 string.
    """

    dimension: int | None = None
    dtype: EmbeddingDtype = "float"
    encoding: EncodingFormat = "float"

    def check(self, native_dimension: int) -> None:
        """Raise before any work is done when the request cannot be met."""
        if self.dimension is None:
            return
        if self.dimension < 1:
            raise InvalidRequest(
                f"output_dimension must be at least 1, got {self.dimension}.",
                param="output_dimension",
            )
        if self.dimension > native_dimension:
            raise InvalidRequest(
                f"output_dimension {self.dimension} is larger than the model's "
                f"{native_dimension} dimensions.",
                param="output_dimension",
            )

    def resize(self, vectors: Vectors) -> Vectors:
        if self.dimension is None or self.dimension == vectors.shape[1]:
            return vectors
        cut = vectors[:, : self.dimension]
        norms: Vectors = np.linalg.norm(cut, axis=1, keepdims=True)
        # A prefix of all zeros has no direction; leave it as zeros rather than divide by 0.
        unit: Vectors = (cut / np.maximum(norms, np.finfo(np.float32).tiny)).astype(np.float32)
        return unit

    def quantize(self, vectors: Vectors) -> npt.NDArray[np.generic]:
        if self.dtype == "float":
            return vectors.astype(_NUMPY_DTYPE["float"])
        if self.dtype in ("int8", "uint8"):
            signed: npt.NDArray[np.int16] = np.clip(np.rint(vectors * 127.0), -128, 127).astype(
                np.int16
            )
            if self.dtype == "uint8":
                return (signed + 128).astype(np.uint8)
            return signed.astype(np.int8)
        packed = np.packbits(vectors > 0, axis=1)
        if self.dtype == "ubinary":
            return packed
        return (packed.astype(np.int16) - 128).astype(np.int8)

    def encode(self, vectors: Vectors) -> Encoded:
        """The wire form of every row, in order."""
        values = self.quantize(self.resize(vectors))
        if self.encoding == "base64":
            little = values.astype(_NUMPY_DTYPE[self.dtype], copy=False)
            texts: Encoded = [base64.b64encode(row.tobytes()).decode("ascii") for row in little]
            return texts
        rows: Encoded = values.tolist()
        return rows
