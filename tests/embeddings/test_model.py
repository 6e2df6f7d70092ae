import numpy as np
import pytest

from autan.embeddings.model import EmbeddingModel
from autan.errors import InputTooLong

TEXTS = [
    "Hello world",
    "A man is eating food.",
    "A much longer sentence, with quite a few more words in it than any other text in this list.",
    "x",
    "The cat sat on the mat.",
    "Stocks fell sharply on Monday.",
]


def test_the_packaged_model_reads_256_tokens_into_384_dimensions(
    packaged_model: EmbeddingModel,
) -> None:
    assert packaged_model.dimension == 384
    assert packaged_model.max_tokens == 256


def test_vectors_are_unit_length_and_tokens_count_cls_and_sep(
    packaged_model: EmbeddingModel,
) -> None:
    batch = packaged_model.embed(TEXTS)
    assert batch.vectors.shape == (len(TEXTS), 384)
    assert batch.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch.vectors, axis=1), 1.0, atol=1e-5)
    # "hello", "world" plus [CLS] and [SEP].
    assert batch.token_counts[0] == 4
    assert batch.token_counts[3] == 3


def test_sorting_into_sub_batches_keeps_each_text_at_its_index(
    packaged_model: EmbeddingModel,
) -> None:
    together = packaged_model.embed(TEXTS).vectors
    alone = np.stack([packaged_model.embed([t]).vectors[0] for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-4)
    # The texts differ, so the vectors do: a mix-up of rows would not pass the line above.
    assert float(together[0] @ together[5]) < 0.9


def test_a_text_over_the_limit_is_refused_by_index(packaged_model: EmbeddingModel) -> None:
    fits = "word " * 254  # 254 tokens + [CLS] + [SEP] = 256
    assert packaged_model.embed([fits]).token_counts == [256]
    with pytest.raises(InputTooLong) as e:
        packaged_model.embed(["short", fits, fits + "word"])
    assert e.value.index == 2 and e.value.sent == 257 and e.value.fits == 256
    assert e.value.status == 400
    assert "Input 2 contains 257 tokens" in e.value.message
