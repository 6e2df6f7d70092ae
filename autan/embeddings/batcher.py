"""One worker thread that runs the embedding model, merging the requests that wait for it."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass

from autan.embeddings.model import Embedder
from autan.embeddings.output_format import Encoded, OutputFormat
from autan.errors import AutanError

log = logging.getLogger(__name__)

# (rows in wire form, tokens read in all)
Result = tuple[Encoded, int]


@dataclass(slots=True)
class _Job:
    texts: list[str]
    output: OutputFormat
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Result]
    ids: list[list[int]] | None = None


def _settle(future: asyncio.Future[Result], result: Result | None, error: Exception | None) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert result is not None
        future.set_result(result)


class EmbeddingBatcher:
    """Requests queue here; the worker takes the first and every request queued behind it, up
    to ``max_texts`` texts in all, and embeds them in one pass of the model.

    Eight one-sentence requests embedded together take about 40% of the time they take one
    after another (docs/benchmarks.md), and onnxruntime already spreads one run over
    the cores it is given, so one worker is enough. Each request is tokenized on its own, so
    a text that is too long fails its own request only.
    """

    def __init__(self, model: Embedder, *, max_texts: int) -> None:
        self._model = model
        self._max_texts = max_texts
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._held: _Job | None = None
        self._thread = threading.Thread(target=self._work, name="autan-embed", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    async def embed(self, texts: list[str], output: OutputFormat) -> Result:
        loop = asyncio.get_running_loop()
        job = _Job(texts, output, loop, loop.create_future())
        self._queue.put(job)
        return await job.future

    def close(self) -> None:
        self._queue.put(None)

    def _next_batch(self) -> list[_Job] | None:
        """Block for one job, then take those already queued while they fit ``max_texts``."""
        first = self._held if self._held is not None else self._queue.get()
        self._held = None
        if first is None:
            return None
        batch, texts = [first], len(first.texts)
        while texts < self._max_texts:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None or texts + len(job.texts) > self._max_texts:
                self._held = job  # first of the next batch (or the stop signal)
                break
            batch.append(job)
            texts += len(job.texts)
        return batch

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._run(batch)
            except Exception as e:  # a bug: every waiting request gets it, as a 500
                log.exception("embedding batch failed")
                for job in batch:
                    job.loop.call_soon_threadsafe(_settle, job.future, None, e)

    def _run(self, batch: list[_Job]) -> None:
        ready: list[_Job] = []
        for job in batch:
            if job.future.cancelled():
                continue
            try:
                job.ids = self._model.tokenize(job.texts)
            except AutanError as e:
                job.loop.call_soon_threadsafe(_settle, job.future, None, e)
                continue
            ready.append(job)
        if not ready:
            return
        vectors = self._model.embed_tokens([row for job in ready for row in job.ids or ()])
        start = 0
        for job in ready:
            ids = job.ids or []
            rows = job.output.encode(vectors[start : start + len(ids)])
            start += len(ids)
            tokens = sum(len(row) for row in ids)
            job.loop.call_soon_threadsafe(_settle, job.future, (rows, tokens), None)
