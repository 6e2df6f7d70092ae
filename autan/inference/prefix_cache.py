"""Which slot a new prompt goes to, so that it decodes as little of itself as it can.

Every slot keeps the KV of the last sequence it ran after that sequence ends. A new prompt
takes the free slot whose kept prompt shares the longest prefix with it, and only the rest of
the prompt is decoded. When a busy slot holds a much longer match (another request with the
same system prompt still generating), its KV is copied into a free slot first.

A hit must give the tokens a cold run gives, and llama.cpp's kernels round differently with
the number of a sequence's tokens in a micro-batch: its CPU attention takes a tiled path from
64 query tokens on (``GGML_FA_TILE_Q``) and a per-token one below. A cold run decodes its
prompt in chunks of at least ``MIN_PREFILL`` tokens (the scheduler never leaves a shorter
tail) and its outputs one at a time. So a hit reuses only prompt positions, never the outputs
a sequence generated, and decodes the last ``MIN_PREFILL`` prompt tokens again: every
position is then computed by the same kernel as in a cold run, and a request that runs alone
gets bit-identical logits. A prompt shorter than ``MIN_PREFILL`` runs cold in chunks below
the tiled path, so a hit from another short prompt decodes only what differs: two chat
requests to SmolLM2 share the 24 tokens of its template's system turn, and the second decodes
18 tokens instead of 42, with the same logits to the bit. (Requests decoded side by side
share micro-batches, which changes the kernels with or without a hit.)

A prompt seen whole before (a retry, a repeated request, a batch of the same prompt with
different seeds) needs no decode at all: the cache keeps the logits of the last token of
recent prompts, and when a slot, a running sequence or host memory holds such a prompt whole,
the sequence starts from those logits. They are the ones the prompt's own decode gave, so the
first token is the one a cold run samples; llama-server decodes the last prompt token again
instead.

Our context gives every slot its own KV stream (``kv_unified = False``) so that a slot can
always grow to ``context`` cells. Between streams llama.cpp cannot share cells, and its
``llama_memory_seq_cp`` copies the whole source stream's buffers (it asserts on a partial
range): a cost in proportion to ``context``, paid however short the prefix. So
``LlamaContext.copy`` moves only
the cells the source sequence uses, through llama.cpp's per-sequence state. A copy still costs
a fixed part, so it only pays for itself past ``MIN_COPY_GAIN`` tokens.

A slot's record holds only prompt tokens that a successful ``llama_decode`` wrote: the
scheduler releases a slot with the first ``Sequence.n_cached`` of them, and none after a
failed decode.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# A copy moves the source's used cells x layers x KV width bytes (23 KB a cell for
# SmolLM2-135M) through a host buffer, where a prompt token in a short chunk costs 1 to 4.6 ms
# on 2 cores (Intel Xeon, AMD EPYC). A copy must save at least this many prompt tokens over
# reusing a free slot in place.
MIN_COPY_GAIN = 8
# Prompt tokens a prefill chunk, and the part of a prompt decoded on a hit, hold at least.
MIN_PREFILL = 64
# A shorter match (a chat template's opening tokens) is no hit when taking it would cut as
# many cached tokens: the prompt takes the least recently used slot rather than cut a slot
# that holds another long prefix. While an empty slot is free it is no hit if it would cut
# any cached token.
MIN_HIT = 32
# Whole prompts whose last logits are kept (at least; twice the slots when that is more):
# 196 KB each for SmolLM2's vocabulary, 608 KB for Qwen2.5's.
LOGITS_ENTRIES = 32


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a prompt goes: ``slot`` keeps its first ``keep`` KV cells (after the copy from
    ``source``, when there is one) and the prompt is decoded from position ``keep`` on."""

    slot: int
    keep: int
    source: int | None = None
    # The prompt tokens the slot held, to be saved to host memory before it is overwritten.
    save: list[int] | None = None
    # A saved prompt's KV to load into the slot first (instead of a copy from ``source``).
    restore: Saved | None = None
    # The logits of the prompt's last token, when ``keep`` covers the whole prompt: its
    # first token is sampled from them, and nothing of it is decoded.
    logits: object | None = None


@dataclass(slots=True)
class Saved:
    """A prompt's KV saved to host memory: the prompt tokens its cells hold, from position 0,
    and the backend's opaque state of them."""

    tokens: list[int]
    state: object
    nbytes: int


class PrefixCache:
    """The free slots, least recently released first, and the tokens each one's KV holds."""

    def __init__(self, slots: int, *, enabled: bool = True, host_bytes: int = 0) -> None:
        self.enabled = enabled
        self.free = list(range(slots))
        self._held: list[list[int]] = [[] for _ in range(slots)]
        # Prompts whose slots were taken by others, least recently used first, within
        # ``host_bytes`` of host memory (0: none kept).
        self.host_bytes = host_bytes if enabled else 0
        self.saved: list[Saved] = []
        self.saved_bytes = 0
        # The last token's logits of recent whole prompts, least recently used first.
        self._logits: OrderedDict[tuple[int, ...], object] = OrderedDict()
        self.logits_entries = max(LOGITS_ENTRIES, 2 * slots)

    def remember(self, prompt: list[int], logits: object) -> None:
        """Keep the logits a whole ``prompt`` gave (a copy, owned by the cache): when a slot,
        a busy sequence or host memory holds that prompt whole, a repeat of it decodes nothing."""
        if not self.enabled:
            return
        key = tuple(prompt)
        self._logits[key] = logits
        self._logits.move_to_end(key)
        while len(self._logits) > self.logits_entries:
            self._logits.popitem(last=False)

    def store(self, tokens: list[int], state: object, nbytes: int) -> None:
        """Keep a prompt's KV in host memory, dropping the least recently used ones (and any
        saved prompt it extends) to stay within ``host_bytes``."""
        if nbytes > self.host_bytes:
            return
        for old in [e for e in self.saved if e.tokens == tokens[: len(e.tokens)]]:
            self._drop(old)
        while self.saved and self.saved_bytes + nbytes > self.host_bytes:
            self._drop(self.saved[0])
        self.saved.append(Saved(list(tokens), state, nbytes))
        self.saved_bytes += nbytes

    def _drop(self, entry: Saved) -> None:
        self.saved.remove(entry)
        self.saved_bytes -= entry.nbytes

    def _worth_saving(self, held: list[int], kept: int) -> bool:
        """Whether a slot's prompt, about to lose all but ``kept`` tokens, goes to host
        memory: long enough to be a hit later, and not already there (or a longer one)."""
        if not self.host_bytes or len(held) - kept < MIN_HIT or len(held) < MIN_HIT:
            return False
        return not any(e.tokens[: len(held)] == held for e in self.saved)

    def held(self, slot: int) -> list[int]:
        """Reusable tokens a free slot's KV holds at positions 0..n-1."""
        return self._held[slot]

    def place(
        self,
        prompt: list[int],
        busy: Iterable[tuple[int, list[int]]] = (),
        *,
        compact: bool = False,
        below: int | None = None,
    ) -> Placement:
        """Choose a free slot for ``prompt`` and take it off the free list.

        ``busy`` gives the slots in use and the prompt tokens their KV holds, as copy sources.
        The last ``MIN_PREFILL`` prompt tokens of a longer prompt are always decoded, and at
        least the last token of a shorter one (its logits give the first sample); a prompt of
        exactly ``MIN_PREFILL`` tokens reuses nothing. The exception is a prompt held whole
        whose last logits the cache remembers (a retry, the same request again): it decodes
        nothing, and its first token is sampled from the logits a cold run gave.

        Among slots that reuse as much, the least recently released one is taken, which keeps
        the most recent prefixes (a conversation's next turn finds its own). While a slot that
        holds nothing is free, a short match (the chat template's opening) is not cut out of
        a slot holding more of another prompt but copied from it into the empty slot, and a
        prompt without a match takes the empty slot: the prompts seen so far stay whole, each
        for its next repeat. With ``compact``
        (batch lines, which have no next turn) the lowest-numbered one is: busy slots then fill
        from slot 0 up and the free ones gather at the top, rather than sit between busy ones
        where each costs every step a pad row or a second micro-batch (see
        ``LlamaContext.decode``).

        With ``below``, only the slots under it are taken while one of them is free: the
        scheduler keeps the interactive reserve's slots at the top for when batch lines run,
        so that ``--parallel`` interactive requests fill the run of slots from 0 without a hole.
        While others run, such a prompt takes a free slot that leaves the busy ones in the
        fewest runs (a lone free slot between two busy ones counts as bridged: it gets a pad
        token), and a match held in another free slot is copied there: four requests in
        slots 0, 3, 5 and 7 make four passes over the weights a step where slots 4 to 7 make
        one (on the code model, a pass is about 20 ms of a one-row step's 25 on two cores).
        """
        assert self.free, "place() needs a free slot: check PrefixCache.free first"
        assert prompt, "an empty prompt has no token to decode"
        order = sorted(self.free) if compact else self.free
        if below is not None:
            order = [s for s in order if s < below] or order
        busy = list(busy)
        # Beside running sequences an interactive prompt goes to a free slot that keeps the
        # busy ones in as few runs as it can (see below).
        contiguous = below is not None and bool(busy)
        # A free slot that holds nothing: taking it forgets no other prompt's prefix.
        empty = None if compact else next((s for s in order if not self._held[s]), None)
        # The slot a copy or a load overwrites: an empty one, else the least recently used.
        fresh = order[0] if empty is None else empty
        if contiguous:
            running = {s for s, _ in busy}
            runs = {s: _runs(running | {s}) for s in order}
            fewest = min(runs.values())
            near = [s for s in order if runs[s] == fewest]
            fresh = empty if empty in near else near[0]
        slot, keep = fresh, 0
        source: int | None = None
        logits = self._logits.get(tuple(prompt)) if self.enabled else None
        if self.enabled and (len(prompt) != MIN_PREFILL or logits is not None):
            short = len(prompt) < MIN_PREFILL
            partial = len(prompt) - 1 if short else len(prompt) - MIN_PREFILL
            # The reuse a match of ``same`` tokens allows: the whole prompt when its logits
            # are known, else up to ``partial``.
            whole = len(prompt) if logits is not None else partial

            def usable(same: int) -> int:
                return same if same == whole else min(same, partial)

            copy_from, copy_keep = None, 0
            for candidate in order:
                held = self._held[candidate]
                same = _common_prefix(held, prompt, len(prompt))
                n = usable(same)
                cut = len(held) - same  # cached tokens of another prompt that this would cut
                if n <= keep:
                    continue
                if n >= MIN_HIT or (cut < MIN_HIT and (empty is None or not cut)):
                    slot, keep = candidate, n
                elif empty is not None and n > copy_keep:
                    copy_from, copy_keep = candidate, n
            if copy_from is not None and empty is not None and copy_keep >= keep + MIN_COPY_GAIN:
                # The short match (a chat template's opening) is copied into the empty slot,
                # and the slot it came from keeps its whole prompt.
                slot, keep, source = empty, copy_keep, copy_from
            best_busy, best_busy_keep = None, max(keep + MIN_COPY_GAIN, MIN_HIT) - 1
            for candidate, tokens in busy:
                n = usable(_common_prefix(tokens, prompt, whole))
                if n > best_busy_keep:
                    best_busy, best_busy_keep = candidate, n
            if best_busy is not None:
                slot, keep, source = fresh, best_busy_keep, best_busy
            restore = self._best_saved(prompt, whole, keep, usable)
            if restore is not None:
                slot, keep, source = fresh, restore[1], None
                self.saved.remove(restore[0])  # most recently used again: at the end
                self.saved.append(restore[0])
            if contiguous and _runs(running | {slot}) > fewest and source is None and not restore:
                # The match's own slot would cut the run of busy slots, which costs every
                # decode step a pass over the weights: it is copied to one that does not.
                own = usable(_common_prefix(self._held[fresh], prompt, len(prompt)))
                if keep >= own + MIN_COPY_GAIN:
                    source = slot
                else:
                    keep = own
                slot = fresh
        else:
            restore = None
        held = self._held[slot]
        kept = 0 if source is not None or restore is not None else keep
        save = list(held) if self._worth_saving(held, kept) else None
        self.free.remove(slot)
        self._held[slot] = []
        if keep == len(prompt):
            self._logits.move_to_end(tuple(prompt))
        else:
            logits = None
        return Placement(slot, keep, source, save, restore[0] if restore else None, logits)

    def _best_saved(
        self, prompt: list[int], limit: int, keep: int, usable: Callable[[int], int]
    ) -> tuple[Saved, int] | None:
        """The saved prompt sharing the longest prefix with ``prompt``, when it saves at least
        ``MIN_COPY_GAIN`` tokens over ``keep`` (a load costs about what a copy does)."""
        best, best_n = None, max(keep + MIN_COPY_GAIN, MIN_HIT) - 1
        for entry in self.saved:
            n = usable(_common_prefix(entry.tokens, prompt, limit))
            if n > best_n:
                best, best_n = entry, n
        return (best, best_n) if best is not None else None

    def release(self, slot: int, tokens: list[int]) -> None:
        """``slot`` is free again and its KV holds the prompt tokens ``tokens`` (recorded only
        when enabled)."""
        assert slot not in self.free, f"slot {slot} released twice"
        self._held[slot] = list(tokens) if self.enabled else []
        self.free.append(slot)


def _runs(slots: set[int]) -> tuple[int, int]:
    """The micro-batches a decode over ``slots`` takes, one row each (runs of consecutive
    slots, a lone gap bridged by a pad: ``LlamaContext.decode``), and the pads."""
    gaps = [hi - lo for lo, hi in itertools.pairwise(sorted(slots))]
    return 1 + sum(1 for gap in gaps if gap > 2), gaps.count(2)


def _common_prefix(a: list[int], b: list[int], limit: int) -> int:
    n = min(len(a), len(b), limit)
    i = 0
    # Slices compare in C: skip equal runs 64 tokens at a time, then find the first difference.
    while i + 64 <= n and a[i : i + 64] == b[i : i + 64]:
        i += 64
    while i < n and a[i] == b[i]:
        i += 1
    return i
