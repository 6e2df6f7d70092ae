import asyncio
from collections.abc import Awaitable, Callable, Iterator

import numpy as np
import pytest

from autan.embeddings.batcher import EmbeddingBatcher, Result
from autan.embeddings.output_format import OutputFormat
from autan.errors import InputTooLong
from tests.embeddings.fake_model import FakeEmbedder


@pytest.fixture
def fake() -> FakeEmbedder:
    return FakeEmbedder(dimension=8, max_tokens=6, gated=True)


@pytest.fixture
def batcher(fake: FakeEmbedder) -> Iterator[EmbeddingBatcher]:
    b = EmbeddingBatcher(fake, max_texts=4)
    yield b
    fake.gate.set()
    b.close()


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


def _behind_a_busy_worker(
    batcher: EmbeddingBatcher, fake: FakeEmbedder, queued: list[list[str]]
) -> list[Result | BaseException]:
    """Hold the worker in a first request, queue ``queued`` behind it, then let it go."""

    async def go() -> list[Result | BaseException]:
        plain = OutputFormat()
        first = asyncio.ensure_future(batcher.embed(["first"], plain))
        await _until(fake.entered.is_set)
        rest: list[Awaitable[Result]] = [batcher.embed(texts, plain) for texts in queued]
        tasks = [asyncio.ensure_future(r) for r in rest]
        await _until(lambda: batcher.waiting == len(queued))
        fake.gate.set()
        await first
        return await asyncio.gather(*tasks, return_exceptions=True)

    return asyncio.run(go())


def test_requests_waiting_behind_a_run_are_embedded_together(
    batcher: EmbeddingBatcher, fake: FakeEmbedder
) -> None:
    queued = [["a b"], ["c"], ["d e f", "g"]]
    results = _behind_a_busy_worker(batcher, fake, queued)
    assert fake.runs == [1, 4]
    for texts, result in zip(queued, results, strict=True):
        assert not isinstance(result, BaseException)
        rows, tokens = result
        assert tokens == sum(len(t.split()) + 2 for t in texts)
        want = [fake.vector(t).tolist() for t in texts]
        np.testing.assert_allclose(np.array(rows), np.array(want), atol=1e-6)


def test_a_request_that_would_overflow_the_batch_waits_for_the_next_run(
    batcher: EmbeddingBatcher, fake: FakeEmbedder
) -> None:
    results = _behind_a_busy_worker(batcher, fake, [["a", "b", "c"], ["d", "e"], ["f"]])
    assert all(not isinstance(r, BaseException) for r in results)
    assert fake.runs == [1, 3, 3]


def test_a_too_long_text_fails_only_its_own_request(
    batcher: EmbeddingBatcher, fake: FakeEmbedder
) -> None:
    ok, too_long = _behind_a_busy_worker(batcher, fake, [["fine"], ["ok", "w w w w w"]])
    assert isinstance(too_long, InputTooLong) and too_long.index == 1
    assert not isinstance(ok, BaseException) and ok[1] == 3
    assert fake.runs == [1, 1]


def test_each_request_keeps_its_own_output_format(fake: FakeEmbedder) -> None:
    fake.gate.set()
    batcher = EmbeddingBatcher(fake, max_texts=8)

    async def go() -> tuple[Result, Result]:
        return await asyncio.gather(
            batcher.embed(["x"], OutputFormat(dimension=2)),
            batcher.embed(["x"], OutputFormat(dtype="ubinary")),
        )

    try:
        (short, _), (bits, _) = asyncio.run(go())
    finally:
        batcher.close()
    vector = fake.vector("x")
    np.testing.assert_allclose(short[0], vector[:2] / np.linalg.norm(vector[:2]), atol=1e-6)
    assert bits == [np.packbits(vector > 0).tolist()]


def test_a_bug_in_the_model_reaches_every_request_of_the_run(fake: FakeEmbedder) -> None:
    def broken(ids: object) -> np.ndarray:
        raise RuntimeError("boom")

    fake.embed_tokens = broken  # type: ignore[method-assign]
    batcher = EmbeddingBatcher(fake, max_texts=8)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            asyncio.run(batcher.embed(["x"], OutputFormat()))
    finally:
        batcher.close()
