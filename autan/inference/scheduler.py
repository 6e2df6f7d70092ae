"""Continuous batching: admit, mix prefill chunks with decode steps, sample, retire.

Each slot of the context owns ``context`` KV cells (llama.cpp non-unified KV: one stream per
sequence), so a sequence admitted into a free slot can always run to its limit: there is no
eviction. A retired slot keeps its KV so that the next prompt sharing a prefix skips that
part (``PrefixCache`` chooses the slot and how much of it is reused).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt

from autan.inference import micro_batch
from autan.inference.prefix_cache import MIN_PREFILL, PrefixCache
from autan.inference.sampling import Logits
from autan.inference.sequence import (
    Priority,
    Sequence,
    SequenceObserver,
    SequenceOutput,
    SequenceStatus,
)
from autan.inference.speculation import SpeculationMode, Speculator

log = logging.getLogger(__name__)


class DecodeBackend(Protocol):
    """What the scheduler needs of a model context (``llama.LlamaContext`` in production)."""

    n_vocab: int

    def decode(self, batch: BatchPlan) -> None: ...

    def logits(self, row: int) -> Logits: ...

    def truncate(self, slot: int, keep: int) -> int:
        """Drop the slot's KV cells from position ``keep`` on; return how many were kept."""
        ...

    def copy(self, src: int, dst: int) -> None:
        """Make slot ``dst``'s KV a copy of slot ``src``'s, before the next decode writes."""
        ...

    def rollback(self, slot: int, keep: int) -> None:
        """Drop the cells a verify wrote for rejected draft tokens: positions ``keep`` on."""
        ...

    def save(self, slot: int) -> tuple[object, int]:
        """The slot's KV cells in host memory, and their size in bytes."""
        ...

    def load(self, slot: int, state: object) -> bool:
        """Make the slot's KV the cells ``save`` gave; False if it could not (slot empty)."""
        ...

    def is_eog(self, token: int) -> bool: ...


@dataclass(slots=True)
class BatchPlan:
    """One ``llama_decode`` call: parallel arrays as libllama wants them."""

    tokens: list[int]
    positions: list[int]
    slots: list[int]
    want_logits: list[bool]

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass(slots=True)
class SchedulerStats:
    """Counters since start; read from other threads without a lock (ints are atomic)."""

    admitted: int = 0
    finished: int = 0
    cancelled: int = 0
    prompt_tokens_decoded: int = 0
    generated_tokens: int = 0
    steps: int = 0
    decode_seconds: float = 0.0  # inside llama_decode
    step_seconds: float = 0.0  # whole steps: decode plus planning, sampling, emitting
    masked_tokens: int = 0  # tokens sampled under a grammar
    mask_seconds: float = 0.0  # computing those grammars' allowed-token masks
    prefix_hits: int = 0  # admissions that found part of their prompt in KV
    cached_prompt_tokens: int = 0  # prompt tokens those admissions did not decode
    prefix_copies: int = 0  # KV streams copied from a busy slot for a hit
    host_cache_saves: int = 0  # prompts moved to host memory before their slot was reused
    host_cache_loads: int = 0  # prompts loaded back from host memory for a hit
    prompt_tokens: int = 0  # prompt tokens of admitted sequences, cached or decoded
    draft_tokens: int = 0  # prompt-lookup tokens verified (see speculation)
    accepted_tokens: int = 0  # of those, the ones the model agreed with
    forced_tokens: int = 0  # output tokens a grammar forced, decoded without a step of their own
    deferred_tokens: int = 0  # forced or draft tokens a step left to the next (micro-batch cap)


class Scheduler:
    """Owns the KV streams and the queues; ``step`` runs one batched decode. Single-threaded.

    ``streams`` KV streams: a running sequence holds one (its ``slot``, an index). Of them,
    interactive sequences hold at most ``interactive_slots`` (``--parallel``) and batch lines
    at most ``batch_slots`` (``--batch-slots``); the rest is the interactive reserve.
    """

    def __init__(
        self,
        backend: DecodeBackend,
        *,
        streams: int,
        batch_tokens: int,
        interactive_slots: int | None = None,
        batch_slots: int | None = None,
        batch_decodes_under_load: int = 1,
        interactive_grace: float = 1.0,
        interactive_hold: float = 0.0,
        prefix_cache: bool = True,
        host_cache_bytes: int = 0,
        speculation: SpeculationMode = SpeculationMode.OFF,
        speculation_max_running: int = 1,
        fast_forward: bool = True,
    ) -> None:
        assert batch_tokens >= streams, (
            f"batch_tokens ({batch_tokens}) must cover {streams} KV streams"
        )
        self.backend = backend
        self.batch_tokens = batch_tokens
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.cache = PrefixCache(streams, enabled=prefix_cache, host_bytes=host_cache_bytes)
        self.streams = streams
        # Interactive sequences hold at most this many streams; the others (the reserve) are
        # there for an interactive request that arrives while batch lines fill the rest.
        self.interactive_slots = min(streams, interactive_slots or streams)
        # Batch sequences never hold every stream: an interactive request always finds one.
        self.batch_slots = max(1, min(streams - 1, batch_slots or streams - 1))
        # While interactive requests come (and ``interactive_grace`` seconds after the last),
        # only this many batch sequences decode a step: steps stay short, so a new request
        # waits little for the step in flight. At least one keeps batch work moving.
        assert batch_decodes_under_load >= 1, "batch work must keep moving under load"
        self.batch_decodes_under_load = batch_decodes_under_load
        self.interactive_grace = interactive_grace
        self._interactive_until = 0.0
        # When interactive work ends, batch-only steps wait this long: a step started just
        # before the client's next request arrives would hold that request back for a step.
        self.interactive_hold = interactive_hold
        self._hold_until = 0.0
        self.speculator = Speculator(speculation, max_running=speculation_max_running)
        # Tokens a grammar forces join the sampled token in its next decode, as one chunk,
        # up to a share of the batch each: every running sequence's chunk fits in one decode.
        self.fast_forward = fast_forward
        self._forced_cap = max(0, batch_tokens // streams - 1)
        self.stats = SchedulerStats()
        self.observer: SequenceObserver | None = None
        self._eog: npt.NDArray[np.intp] | None = None

    @property
    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def add(self, seq: Sequence) -> None:
        """Queue ``seq``: an interactive one ahead of every waiting batch sequence."""
        if seq.priority is Priority.INTERACTIVE:
            for i, other in enumerate(self.waiting):
                if other.priority is Priority.BATCH:
                    self.waiting.insert(i, seq)
                    return
        self.waiting.append(seq)

    def step(self) -> float:
        """Run one step; return how many seconds to wait first when only batch work is held
        back (0: step again at once)."""
        start = time.perf_counter()
        try:
            return self._step()
        finally:
            self.stats.step_seconds += time.perf_counter() - start

    def _step(self) -> float:
        self._reap_cancelled()
        self._admit()
        if not self.running:
            return 0.0
        held = self._hold_until - time.monotonic()
        if held > 0 and all(s.priority is Priority.BATCH for s in self.running):
            return held
        # A prompt reused whole samples its first token now, from the logits the cache kept,
        # and decodes it in this step.
        for seq in [s for s in self.running if s.ready is not None]:
            self._take(seq, -1, [], time.perf_counter())
        plan_start = time.perf_counter()
        plan, sampled = self._plan()
        if not plan:
            return 0.0
        self.stats.steps += 1
        decode_start = time.perf_counter()
        try:
            self.backend.decode(plan)
        except Exception as e:  # a failed decode must not take the other requests' slots
            log.exception("decode failed; failing %d sequences", len(self.running))
            for seq in list(self.running):
                seq.n_cached = 0  # the slot's KV is in an unknown state: clear it on reuse
                self._finish(seq, "error", "", error=str(e))
            return 0.0
        finally:
            self.stats.decode_seconds += time.perf_counter() - decode_start
        now = time.perf_counter()
        for seq, row, draft in sampled:
            self._take(seq, row, draft, now)
        if len(sampled) == 1 and len(plan) == len(sampled[0][2]) + 1:  # one sequence, no prompt
            # The whole step, planning and sampling included: a draft spares them too.
            self.speculator.cost.observe(len(plan), time.perf_counter() - plan_start)
        return 0.0

    def _take(self, seq: Sequence, row: int, draft: list[int], now: float) -> None:
        """Sample the sequence's rows from ``row`` on, one token each, for as long as they
        follow ``draft``; then drop the KV of the draft tokens the model did not take, and
        append what the grammar forces next. Row -1: the logits ``seq.ready`` holds."""
        if not seq.output and row >= 0 and self.cache.enabled:
            # The first sample follows the prompt's last token: keep its logits, so that a
            # repeat of the prompt decodes nothing.
            self.cache.remember(seq.prompt, self.backend.logits(row).copy())
        accepted = 0
        while True:
            seq.timings.token(now)
            token = self._sample(seq, row + accepted)
            ending = None
            if seq.budget is not None and not self.backend.is_eog(token):
                ending = seq.budget.check(len(seq.output), token)
            if ending is not None:  # no room for the grammar to end after ``token``
                self._advance(seq, ending, closing=True)
            else:
                self._advance(seq, [token])
            finished = seq.status is SequenceStatus.FINISHED
            if finished or ending is not None or accepted == len(draft) or token != draft[accepted]:
                break
            accepted += 1
        if draft:
            self.stats.draft_tokens += len(draft)
            self.stats.accepted_tokens += accepted
            assert seq.lookup is not None, "a sequence drafts through its lookup"
            seq.lookup.settle(len(draft), accepted)
            if not finished:  # a finished sequence's slot keeps only its prompt (see _release)
                seq.n_cached += accepted
                if accepted < len(draft):
                    self.backend.rollback(seq.slot, seq.n_cached)
        if self.fast_forward and seq.constraint is not None:
            self._fast_forward(seq)

    def _sample(self, seq: Sequence, row: int) -> int:
        allowed = None
        if seq.constraint is not None:
            mask_start = time.perf_counter()
            allowed = seq.constraint.allowed()
            self.stats.mask_seconds += time.perf_counter() - mask_start
            self.stats.masked_tokens += 1
        banned = self._eog_ids() if len(seq.output) < seq.sampler.params.min_tokens else None
        if row < 0:
            logits, seq.ready = seq.ready, None
            assert logits is not None, "row -1 samples the logits the prefix cache kept"
        else:
            logits = self.backend.logits(row)
        return seq.sampler.sample(logits, allowed, banned)

    def _fast_forward(self, seq: Sequence) -> None:
        """Append the tokens the grammar now forces: they are decoded with the sampled token
        in one chunk, and the mask is computed once, after them.

        llguidance gives the forced text in its canonical tokenization, the one a model reads
        best; the sampled tokens before it are the model's own.
        """
        if seq.status is not SequenceStatus.RUNNING:
            return
        room = min(seq.max_new_tokens - len(seq.output), self._forced_cap)
        assert seq.constraint is not None
        forced = seq.constraint.forced()[:room] if room > 0 else []
        if not forced:
            return
        produced = len(seq.output)
        self.stats.forced_tokens += len(forced)
        self._advance(seq, forced)
        if seq.budget is not None:
            seq.budget.forced(produced, forced)

    def _eog_ids(self) -> npt.NDArray[np.intp]:
        """Every end-of-generation token: what ``min_tokens`` forbids until it is reached."""
        if self._eog is None:
            ids = [t for t in range(self.backend.n_vocab) if self.backend.is_eog(t)]
            self._eog = np.array(ids, dtype=np.intp)
        return self._eog

    def _reap_cancelled(self) -> None:
        if any(s.cancelled for s in self.waiting):
            self.waiting = deque(s for s in self.waiting if not s.cancelled)
        for seq in [s for s in self.running if s.cancelled]:
            self.stats.cancelled += 1
            self._release(seq)
            seq.timings.finished = time.perf_counter()
            if self.observer is not None:
                self.observer.finished(seq, "abort")

    def _admit(self) -> None:
        batch_running = sum(1 for s in self.running if s.priority is Priority.BATCH)
        # Under interactive load batch work shrinks to the sequences that decode, handing its
        # other slots back to interactive requests as its lines end.
        under_load = time.monotonic() < self._interactive_until
        batch_cap = self.batch_decodes_under_load if under_load else self.batch_slots
        interactive_running = len(self.running) - batch_running
        while self.waiting and self.cache.free:
            if self.waiting[0].priority is Priority.BATCH:
                if batch_running >= batch_cap:
                    break  # only batch sequences wait behind this one
                batch_running += 1
            else:
                if interactive_running >= self.interactive_slots:
                    break
                interactive_running += 1
            seq = self.waiting.popleft()
            if seq.max_new_tokens <= 0:  # max_tokens 0: nothing to generate, nothing to decode
                self._finish(seq, "length", "")
                continue
            busy = (
                ((s.slot, s.prompt[: s.n_cached]) for s in self.running)
                if self.cache.enabled
                else ()
            )
            # A batch line running alone takes the lowest free slot among equal matches (no
            # pad rows); near interactive work, the least recently released, as interactive
            # requests do, so that it does not take the slot of a conversation's last turn.
            compact = seq.priority is Priority.BATCH and not under_load
            # Without batch lines the interactive reserve's slots (the top ones) stay free:
            # --parallel requests then hold slots 0 to parallel-1, one run of sequence ids that
            # libllama decodes in one micro-batch (a free slot among them costs every step a
            # pad row, or a second pass over the weights).
            interactive = seq.priority is not Priority.BATCH
            below = self.interactive_slots if interactive and batch_running == 0 else None
            where = self.cache.place(seq.prompt, busy, compact=compact, below=below)
            if where.save is not None:
                self._save(where.slot, where.save)
            if where.source is not None:
                self.backend.copy(where.source, where.slot)
                self.stats.prefix_copies += 1
            elif where.restore is not None and self.backend.load(where.slot, where.restore.state):
                self.stats.host_cache_loads += 1
            keep = self.backend.truncate(where.slot, where.keep)
            self.stats.prompt_tokens += len(seq.prompt)
            if keep:
                self.stats.prefix_hits += 1
                self.stats.cached_prompt_tokens += keep
            seq.timings.admitted = time.perf_counter()
            seq.timings.cached_tokens = keep
            if keep == len(seq.prompt):
                assert where.logits is not None, "a prompt reused whole comes with its logits"
                seq.ready = cast(Logits, where.logits)
            seq.slot, seq.n_cached, seq.status = where.slot, keep, SequenceStatus.RUNNING
            self.running.append(seq)
            self.stats.admitted += 1

    def _save(self, slot: int, held: list[int]) -> None:
        """Move the prompt a slot holds to host memory before a new one overwrites it."""
        if self.backend.truncate(slot, len(held)) != len(held):
            return  # its cells do not start at position 0: nothing reusable
        state, nbytes = self.backend.save(slot)
        if nbytes:
            self.cache.store(held, state, nbytes)
            self.stats.host_cache_saves += 1

    def _plan(self) -> tuple[BatchPlan, list[tuple[Sequence, int, list[int]]]]:
        """The step's rows, and per sampled sequence its first logits row and draft tokens
        (its rows follow the first one)."""
        plan = BatchPlan([], [], [], [])
        sampled: list[tuple[Sequence, int, list[int]]] = []
        running = self.running
        interactive = [s for s in running if s.priority is Priority.INTERACTIVE]
        now = time.monotonic()
        if interactive:
            self._interactive_until = now + self.interactive_grace
        if any(s.prefilling for s in interactive):
            # Batch sequences sit this step out: an interactive prompt's first token then
            # comes as fast as on an idle engine.
            running = interactive
        elif now < self._interactive_until:
            batch = [s for s in running if s.priority is Priority.BATCH]
            running = interactive + self._riders(batch, interactive)
        decoding = [s for s in running if not s.prefilling]
        prefilling = [s for s in running if s.prefilling]
        budget = self.batch_tokens - sum(s.length - s.n_cached for s in decoding)
        drafts = self.speculator.drafts(decoding, running=len(self.running), room=budget)
        budget -= sum(len(d) for d in drafts.values())
        # Forced and draft tokens beyond the cap wait for the next steps: fed now, they would
        # cost libllama passes over the weights of a row or two each (see micro_batch).
        fixed = {s.slot: len(s.prompt) - s.n_cached for s in prefilling}
        wanted = {s.slot: len(s.pending(1)) + len(drafts.get(s, [])) for s in decoding}
        fixed.update(dict.fromkeys(micro_batch.lone_gaps({*fixed, *wanted}), 1))
        cap = micro_batch.cap(fixed, wanted) if len(wanted) > 1 else self.batch_tokens
        for seq in decoding + prefilling:
            draft = drafts.get(seq, [])
            if seq.prefilling:
                chunk = seq.pending(self._chunk_size(seq, budget))
            else:
                chunk = seq.pending(1)
                if len(chunk) > cap:  # the rest next step; nothing to sample before it is in
                    self.stats.deferred_tokens += len(chunk) - cap
                    chunk, draft = chunk[:cap], []
                    sampled_now = False
                else:
                    draft = draft[: cap - len(chunk)]
                    sampled_now = True
            if not chunk:
                continue
            start = seq.n_cached
            for j, tok in enumerate(chunk):
                plan.tokens.append(tok)
                plan.positions.append(start + j)
                plan.slots.append(seq.slot)
                plan.want_logits.append(False)
            if seq.prefilling:
                budget -= len(chunk)
                self.stats.prompt_tokens_decoded += len(chunk)
                seq.n_cached += len(chunk)
                if seq.prefilling:
                    continue
            else:
                seq.n_cached += len(chunk)  # the draft tokens count once accepted
                if not sampled_now:
                    continue
            plan.tokens.extend(draft)
            plan.positions.extend(range(seq.n_cached, seq.n_cached + len(draft)))
            plan.slots.extend([seq.slot] * len(draft))
            plan.want_logits.extend([False] * len(draft))
            first = len(plan) - 1 - len(draft)
            plan.want_logits[first:] = [True] * (len(draft) + 1)
            sampled.append((seq, first, draft))
        return plan, sampled

    def _riders(self, batch: list[Sequence], interactive: list[Sequence]) -> list[Sequence]:
        """The batch sequences that decode beside interactive work: those already decoding
        first (a prefill chunk would lengthen the step), then those in slots next to the
        interactive ones, which llama.cpp decodes in the same pass over the weights."""
        busy = [s.slot for s in interactive]

        def cost(seq: Sequence) -> tuple[bool, int]:
            return seq.prefilling, min((abs(seq.slot - b) for b in busy), default=0)

        return sorted(batch, key=cost)[: self.batch_decodes_under_load]

    @staticmethod
    def _chunk_size(seq: Sequence, budget: int) -> int:
        """``budget``, less what keeps the prompt's last chunk at ``MIN_PREFILL`` tokens: a
        short last chunk would take other kernels than on a prefix-cache hit."""
        remaining = len(seq.prompt) - seq.n_cached
        tail = remaining - budget
        if 0 < tail < MIN_PREFILL and budget - (MIN_PREFILL - tail) >= MIN_PREFILL:
            return budget - (MIN_PREFILL - tail)
        return budget

    def _advance(self, seq: Sequence, tokens: list[int], *, closing: bool = False) -> None:
        """Append ``tokens`` to the output and emit their text. ``closing``: they complete the
        grammar because the budget forced it, and the reply ends with ``length``."""
        text = ""
        constraint = seq.constraint
        for token in tokens:
            if self.backend.is_eog(token):
                self._finish(seq, "stop", text + self._drain(seq))
                return
            seq.output.append(token)
            seq.sampler.accept(token)
            self.stats.generated_tokens += 1
            piece, hit_stop = seq.stop.feed(seq.detokenizer.feed(token))
            text += piece
            if constraint is not None and not constraint.consume(token):
                error = f"constraint violated: {constraint.error}"
                self._finish(seq, "error", text, error=error)
                return
            if hit_stop:
                self._finish(seq, "stop", text)
                return
            if constraint is not None and constraint.done:  # the grammar allows nothing more
                self._finish(seq, "length" if closing else "stop", text + self._drain(seq))
                return
            if len(seq.output) >= seq.max_new_tokens:
                self._finish(seq, "length", text + self._drain(seq))
                return
        if closing:
            self._finish(seq, "length", text + self._drain(seq))
        elif text:
            seq.emit(SequenceOutput(text=text, completion_tokens=len(seq.output)))

    @staticmethod
    def _drain(seq: Sequence) -> str:
        """Text still held by the detokenizer and the stop matcher once no token follows."""
        text, hit_stop = seq.stop.feed(seq.detokenizer.flush())
        return text if hit_stop else text + seq.stop.flush()

    def _finish(self, seq: Sequence, reason: str, text: str, error: str | None = None) -> None:
        self.stats.finished += 1
        self._release(seq)
        seq.timings.finished = time.perf_counter()
        if self.observer is not None:
            self.observer.finished(seq, reason)
        seq.emit(
            SequenceOutput(
                text=text,
                completion_tokens=len(seq.output),
                finish_reason=reason,
                error=error,
                timings=seq.timings,
            )
        )

    def _release(self, seq: Sequence) -> None:
        seq.status = SequenceStatus.FINISHED
        if seq.priority is Priority.INTERACTIVE:
            self._hold_until = time.monotonic() + self.interactive_hold
        if seq in self.running:
            self.running.remove(seq)
            # Outputs were decoded one at a time, with other kernels than a prompt chunk: only
            # the prompt tokens decoded so far are reusable (see PrefixCache).
            self.cache.release(seq.slot, seq.prompt[: seq.n_cached])
