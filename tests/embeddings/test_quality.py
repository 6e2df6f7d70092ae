"""The packaged model puts paraphrases closer together than unrelated sentences, in floats and
after the quantized output formats. The rule: every paraphrase pair scores above every
unrelated pair (no averaging), except for 1-bit vectors, where means must differ by a margin."""

import numpy as np
import pytest

from autan.embeddings.model import EmbeddingModel
from autan.embeddings.output_format import OutputFormat

PARAPHRASES = [
    ("How do I reset my password?", "I forgot my password, how can I change it?"),
    ("The train to Lyon leaves at nine in the morning.", "The 9 a.m. train departs for Lyon."),
    ("She bought a new car last week.", "Last week she purchased a new automobile."),
    (
        "The restaurant was closed because of the holiday.",
        "Because it was a public holiday, the restaurant did not open.",
    ),
    ("Children are playing football in the park.", "Kids are kicking a soccer ball in the park."),
    (
        "The meeting has been moved to Thursday afternoon.",
        "We rescheduled the meeting for Thursday after lunch.",
    ),
    ("It is going to rain heavily tomorrow.", "Tomorrow there will be a lot of rain."),
    ("The doctor told him to drink more water.", "His physician advised him to stay hydrated."),
]
UNRELATED = [
    ("How do I reset my password?", "The volcano erupted for three days."),
    ("She bought a new car last week.", "Photosynthesis turns light into chemical energy."),
    ("Children are playing football in the park.", "The invoice is due at the end of the month."),
    ("The train to Lyon leaves at nine in the morning.", "My grandmother knits woollen socks."),
    ("It is going to rain heavily tomorrow.", "This function returns a sorted list of integers."),
    ("The doctor told him to drink more water.", "Jazz musicians often improvise their solos."),
    ("The meeting has been moved to Thursday afternoon.", "Penguins cannot fly but swim well."),
    ("The restaurant was closed because of the holiday.", "Quantum computers use qubits."),
]


def _pairs(model: EmbeddingModel, output: OutputFormat) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's two vectors in ``output``'s wire form, as float arrays of shape (pairs, d)."""
    pairs = PARAPHRASES + UNRELATED
    vectors = model.embed([t for pair in pairs for t in pair]).vectors
    wire = np.array(output.encode(vectors), dtype=np.float64)
    return wire[0::2], wire[1::2]


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize(
    "output",
    [OutputFormat(), OutputFormat(dimension=128), OutputFormat(dtype="int8")],
    ids=["float", "dimension-128", "int8"],
)
def test_every_paraphrase_is_closer_than_every_unrelated_pair(
    packaged_model: EmbeddingModel, output: OutputFormat
) -> None:
    a, b = _pairs(packaged_model, output)
    scores = _cosine(a, b)
    paraphrase, unrelated = scores[: len(PARAPHRASES)], scores[len(PARAPHRASES) :]
    assert paraphrase.min() > unrelated.max(), (paraphrase.round(3), unrelated.round(3))


def test_bits_agree_more_often_for_paraphrases(packaged_model: EmbeddingModel) -> None:
    a, b = _pairs(packaged_model, OutputFormat(dtype="ubinary"))
    bits_a = np.unpackbits(a.astype(np.uint8), axis=1)
    bits_b = np.unpackbits(b.astype(np.uint8), axis=1)
    agreement = (bits_a == bits_b).mean(axis=1)
    paraphrase, unrelated = agreement[: len(PARAPHRASES)], agreement[len(PARAPHRASES) :]
    # Unrelated sentences agree on about half their bits, as random signs would.
    assert paraphrase.mean() > unrelated.mean() + 0.1, (paraphrase.round(3), unrelated.round(3))
