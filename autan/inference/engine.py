"""The engine: an asyncio facade over one model's scheduler thread.

Requests become ``Sequence`` objects handed to the engine thread; outputs come back through
``loop.call_soon_threadsafe`` into a per-request asyncio queue. Closing the async iterator
(client gone, task cancelled) cancels its sequences and frees their slots at the next step.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import llguidance

from autan.errors import ContextOverflow, Overloaded
from autan.inference.constraints import Grammars
from autan.inference.model_info import ModelInfo
from autan.inference.sampling import SamplingParams
from autan.inference.scheduler import DecodeBackend, Scheduler
from autan.inference.sequence import (
    Priority,
    Sequence,
    SequenceObserver,
    SequenceOutput,
    SequenceStatus,
)
from autan.inference.speculation import SpeculationMode
from autan.settings import EngineSettings

if TYPE_CHECKING:
    from autan.inference.llama import LlamaModel

log = logging.getLogger(__name__)

ChoiceOutput = tuple[int, SequenceOutput]


class Engine(Protocol):
    """What the services need of an inference engine (``LocalEngine``, test fakes)."""

    info: ModelInfo
    context: int  # cells per sequence: prompt + output must fit

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]: ...

    @property
    def grammars(self) -> Grammars:
        """This model's grammar compiler, for ``SamplingParams.grammar``."""
        ...

    def generate(
        self,
        prompt: list[int],
        choices: list[SamplingParams],
        *,
        priority: Priority = Priority.INTERACTIVE,
    ) -> AsyncIterator[ChoiceOutput]:
        """Run one sequence per entry of ``choices`` on ``prompt``; yield (choice, output)."""
        ...

    def stats(self) -> EngineStats: ...

    def observe(self, observer: SequenceObserver | None) -> None:
        """Tell ``observer`` of every sequence retired from now on (None: stop)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EngineStats:
    slots: int
    batch_slots: int
    running: int
    waiting: int
    kv_cells: int  # every KV stream's cells
    kv_cells_used: int  # cells the running sequences hold
    prompt_tokens: int  # of admitted sequences, cached or not
    admitted: int
    finished: int
    cancelled: int
    prompt_tokens_decoded: int
    generated_tokens: int
    steps: int
    decode_seconds: float
    step_seconds: float
    masked_tokens: int
    mask_seconds: float
    prefix_hits: int
    cached_prompt_tokens: int
    prefix_copies: int
    host_cache_saves: int  # prompts moved to host memory before their slot was reused
    host_cache_loads: int  # hits on those
    host_cache_bytes: int  # host memory they hold now
    draft_tokens: int
    accepted_tokens: int
    forced_tokens: int
    deferred_tokens: int  # forced or draft tokens a step left to the next (micro_batch.cap)


class Vocabulary(Protocol):
    """Tokenizer side of a model (``llama.LlamaModel`` in production)."""

    info: ModelInfo

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]: ...

    def piece(self, token: int) -> bytes: ...

    def grammar_tokenizer(self) -> llguidance.LLTokenizer:
        """The vocabulary as llguidance sees it (built once per model; may take a second)."""
        ...

    def close(self) -> None: ...


class ClosableBackend(DecodeBackend, Protocol):
    def close(self) -> None: ...


class LocalEngine:
    """A model on this machine, driven by our continuous-batching scheduler on its own thread."""

    def __init__(
        self, model: Vocabulary, backend: ClosableBackend, settings: EngineSettings, context: int
    ) -> None:
        self._model = model
        self._backend = backend
        self._scheduler = Scheduler(
            backend,
            streams=settings.streams,
            interactive_slots=settings.parallel,
            batch_tokens=settings.batch_tokens,
            prefix_cache=settings.prefix_cache,
            host_cache_bytes=settings.host_cache_mb * 2**20,
            speculation=SpeculationMode(settings.speculative),
            speculation_max_running=settings.speculative_max_running,
            batch_slots=settings.batch_sequences,
            batch_decodes_under_load=settings.batch_decodes_under_load,
            interactive_grace=settings.interactive_grace_seconds,
            interactive_hold=settings.interactive_hold_seconds,
            fast_forward=settings.fast_forward,
        )
        self._max_waiting = settings.max_waiting
        self.info = model.info
        self.context = context
        self._inbox: list[Sequence] = []
        self._outbox: list[
            tuple[asyncio.AbstractEventLoop, asyncio.Queue[ChoiceOutput], ChoiceOutput]
        ] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._grammars: Grammars | None = None
        self._grammars_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="autan-engine", daemon=True)
        self._thread.start()

    @classmethod
    def load(
        cls, model: LlamaModel, settings: EngineSettings, *, adapter: Path | None = None
    ) -> LocalEngine:
        """libllama on this machine: one context with ``settings.streams`` KV streams (the
        slots and the interactive reserve), with a LoRA ``adapter`` GGUF applied to all of
        them when given."""
        from autan.inference.llama import LlamaContext

        context = min(settings.context_per_sequence, model.info.context_train or 1 << 30)
        backend = LlamaContext(
            model,
            streams=settings.streams,
            context=context,
            batch_tokens=settings.batch_tokens,
            threads=settings.threads,
            adapter=adapter,
        )
        return cls(model, backend, settings, context)

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        return self._model.tokenize(text, add_special=add_special, parse_special=parse_special)

    @property
    def grammars(self) -> Grammars:
        with self._grammars_lock:
            if self._grammars is None:
                tokenizer = self._model.grammar_tokenizer()
                self._grammars = Grammars(tokenizer, self._backend.n_vocab)
            return self._grammars

    def generate(
        self,
        prompt: list[int],
        choices: list[SamplingParams],
        *,
        priority: Priority = Priority.INTERACTIVE,
    ) -> AsyncIterator[ChoiceOutput]:
        """Queue the sequences now (errors raise here, before any output) and return their
        outputs. Must be called from the event loop that will consume them."""
        if len(prompt) >= self.context:
            raise ContextOverflow(len(prompt), self.context)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[ChoiceOutput] = asyncio.Queue()
        seqs = [
            Sequence.create(
                prompt,
                params,
                self._emitter(loop, queue, i),
                context=self.context,
                piece=self._model.piece,
                constraint=None
                if params.grammar is None
                else self.grammars.constraint(params.grammar),
                # Walked once per grammar, when the request was checked: a cache hit here.
                shortest=None if params.grammar is None else self.grammars.shortest(params.grammar),
                priority=priority,
            )
            for i, params in enumerate(choices)
        ]
        self._submit(seqs)
        return self._outputs(queue, seqs)

    async def _outputs(
        self, queue: asyncio.Queue[ChoiceOutput], seqs: list[Sequence]
    ) -> AsyncIterator[ChoiceOutput]:
        remaining = len(seqs)
        try:
            while remaining:
                item = await queue.get()
                if item[1].finish_reason is not None:
                    remaining -= 1
                yield item
        finally:
            self._cancel([s for s in seqs if s.status is not SequenceStatus.FINISHED])

    def _emitter(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[ChoiceOutput], index: int
    ) -> Callable[[SequenceOutput], None]:
        def emit(out: SequenceOutput) -> None:
            self._outbox.append((loop, queue, (index, out)))

        return emit

    def _flush_outbox(self) -> None:
        """Hand a step's outputs to their event loops: one wake-up per loop and step.

        Waking the loop once per output (eight a step at eight slots) makes the loop thread and
        the engine thread trade the GIL, and preempt llama.cpp's workers, eight times a step.
        """
        if not self._outbox:
            return
        by_loop: dict[asyncio.AbstractEventLoop, list[_Delivery]] = {}
        for loop, queue, item in self._outbox:
            by_loop.setdefault(loop, []).append((queue, item))
        self._outbox.clear()
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, items)
            except RuntimeError:  # the loop is closed: nobody is left to read these outputs
                log.debug("dropping %d outputs for a closed event loop", len(items))

    def _submit(self, seqs: list[Sequence]) -> None:
        with self._cond:
            if self._stopping:
                raise Overloaded(retry_after=5)
            if self._queued(seqs[0].priority) + len(seqs) > self._max_waiting:
                raise Overloaded(retry_after=1)
            self._inbox.extend(seqs)
            self._cond.notify()

    def _queued(self, priority: Priority) -> int:
        """Sequences of ``priority`` waiting for a slot. Each priority has its own
        ``max_waiting``: batch lines queued ahead never turn an interactive request away."""
        # list() of a deque runs in C, whole, under the GIL: safe while the engine thread
        # admits from it.
        waiting = [*list(self._scheduler.waiting), *self._inbox]
        return sum(1 for seq in waiting if seq.priority is priority)

    def _cancel(self, seqs: list[Sequence]) -> None:
        if not seqs:
            return
        with self._cond:
            for seq in seqs:
                seq.cancelled = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._inbox or self._scheduler.has_work or self._stopping):
                    self._cond.wait()
                if self._stopping:
                    break
                inbox, self._inbox = self._inbox, []
            for seq in inbox:
                self._scheduler.add(seq)
            pause = self._scheduler.step()
            self._flush_outbox()
            if pause > 0:
                with self._cond:  # a new request (or a cancellation) ends the pause at once
                    if not (self._inbox or self._stopping):
                        self._cond.wait(pause)
        for seq in [*self._scheduler.running, *self._scheduler.waiting, *self._inbox]:
            seq.emit(SequenceOutput("", len(seq.output), "error", error="server shutting down"))
        self._flush_outbox()

    def observe(self, observer: SequenceObserver | None) -> None:
        self._scheduler.observer = observer

    def stats(self) -> EngineStats:
        s = self._scheduler
        running = list(s.running)  # copied whole under the GIL, as the engine thread edits it
        return EngineStats(
            slots=s.interactive_slots,
            batch_slots=s.batch_slots,
            running=len(running),
            waiting=len(s.waiting) + len(self._inbox),
            kv_cells=s.streams * self.context,
            kv_cells_used=sum(seq.n_cached for seq in running),
            prompt_tokens=s.stats.prompt_tokens,
            admitted=s.stats.admitted,
            finished=s.stats.finished,
            cancelled=s.stats.cancelled,
            prompt_tokens_decoded=s.stats.prompt_tokens_decoded,
            generated_tokens=s.stats.generated_tokens,
            steps=s.stats.steps,
            decode_seconds=round(s.stats.decode_seconds, 3),
            step_seconds=round(s.stats.step_seconds, 3),
            masked_tokens=s.stats.masked_tokens,
            mask_seconds=round(s.stats.mask_seconds, 4),
            prefix_hits=s.stats.prefix_hits,
            cached_prompt_tokens=s.stats.cached_prompt_tokens,
            prefix_copies=s.stats.prefix_copies,
            host_cache_saves=s.stats.host_cache_saves,
            host_cache_loads=s.stats.host_cache_loads,
            host_cache_bytes=s.cache.saved_bytes,
            draft_tokens=s.stats.draft_tokens,
            accepted_tokens=s.stats.accepted_tokens,
            forced_tokens=s.stats.forced_tokens,
            deferred_tokens=s.stats.deferred_tokens,
        )

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()
        self._backend.close()
        self._model.close()


_Delivery = tuple[asyncio.Queue[ChoiceOutput], ChoiceOutput]


def _deliver(items: list[_Delivery]) -> None:
    for queue, item in items:
        queue.put_nowait(item)
