"""``LocalEngine``'s queue limit: counted apart for interactive requests and batch lines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from autan.errors import Overloaded
from autan.inference.engine import ChoiceOutput
from autan.inference.sampling import SamplingParams
from autan.inference.sequence import Priority
from tests.fakes import fake_engine

PARAMS = [SamplingParams(max_tokens=4, temperature=0)]


async def _drain(outputs: AsyncIterator[ChoiceOutput]) -> str:
    return "".join([out.text async for _, out in outputs])


def test_batch_lines_queued_to_the_limit_do_not_turn_an_interactive_request_away() -> None:
    engine, _ = fake_engine(b"abcd", parallel=1, decode_delay=0.02, max_waiting=2)

    async def scenario() -> tuple[int, str]:
        batch = []
        with pytest.raises(Overloaded):  # the batch queue fills: the next batch line waits
            for _ in range(8):
                batch.append(engine.generate([1, 2], PARAMS, priority=Priority.BATCH))
        live = engine.generate([1, 2], PARAMS)  # the interactive queue is still empty
        texts = await asyncio.gather(_drain(live), *(_drain(b) for b in batch))
        return len(batch), texts[0]

    try:
        queued, live_text = asyncio.run(scenario())
    finally:
        engine.close()
    assert 2 <= queued <= 3  # one may already hold the slot; at most two wait
    assert live_text == "abcd"
