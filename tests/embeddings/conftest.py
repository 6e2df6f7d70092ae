from collections.abc import Iterator

import pytest

from autan.embeddings.model import EmbeddingModel
from autan.settings import EmbeddingSettings


@pytest.fixture(scope="session")
def packaged_model() -> Iterator[EmbeddingModel]:
    """The real packaged all-MiniLM-L6-v2 (int8 ONNX); it loads in well under a second.
    Sub-batches of 4 so that short lists already go through several ONNX runs."""
    yield EmbeddingModel.load_packaged(EmbeddingSettings(threads=2, batch_size=4))
