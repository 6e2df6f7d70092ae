"""Prompt-lookup speculation: guess a sequence's next tokens from its own text, verify them in
one decode, keep the longest run the model agrees with.

Edits and extractions repeat long runs of their prompt ("rewrite this code with one change",
"quote the fields"). When the last ``n`` tokens of a sequence occurred earlier in its prompt or
reply, the tokens that followed them there are a draft of what comes next. The scheduler feeds
the last sampled token and the ``k`` draft tokens as ``k + 1`` rows of the sequence in one
``llama_decode``, with logits for every row, and samples each row in order exactly as it would
have sampled one token per step: row ``i`` is sampled only if the draft's first ``i`` tokens
were what the sampler drew, and the first disagreement is the step's last token. The KV cells
of the rejected draft tokens are then dropped.

The output is the one the sequence gives without speculation. Under greedy decoding each row's
argmax is the token a single step would have produced (the rows of one sequence stay below the
tiled attention path, see ``prefix_cache``, so their logits match one-at-a-time decoding to the
bit). Under sampling, drawing ``y ~ p`` from the row and keeping the draft token ``x`` when
``y == x`` is standard speculative sampling for a deterministic proposal (``q`` one-hot on
``x``): ``x`` is accepted with probability ``p(x)``, and on rejection ``y`` is distributed as
``p`` with ``x`` removed and renormalised. Each row draws one
number from the sequence's RNG, as each single step does, so a seeded request gives the same
text with or without speculation. Penalties, ``min_tokens`` and grammars apply per row as per
step: a grammar's matcher checks every draft token the sampler would draw (each row is masked
after the previous one was consumed), so constrained sequences speculate too.

A draft token costs a row of compute whether it is accepted or not (on a CPU a decode's cost
grows with its rows), so ``k`` adapts per sequence: it doubles while whole drafts are accepted,
falls to what was accepted after a partial one, and a draft rejected outright makes the
sequence skip lookups for a while (doubling, up to ``MAX_SKIP`` tokens). In ``auto`` mode only
steps with at most ``max_running`` running sequences speculate: a batch of many sequences
already keeps the machine busy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autan.inference.sequence import Sequence

# The n-gram sizes looked up, longest first: a bigram repeats by chance in free text too often.
NGRAMS = (4, 3)
START_K = 2
# Draft tokens per verify. A sequence's rows in one decode stay well under ``MIN_PREFILL``
# (64), the count from which llama.cpp's CPU attention takes another kernel.
MAX_K = 16
MAX_SKIP = 64


class SpeculationMode(enum.StrEnum):
    AUTO = "auto"  # when few sequences run
    ON = "on"  # always
    OFF = "off"  # never


@dataclass(slots=True)
class PromptLookup:
    """One sequence's n-gram index over its tokens (prompt, then output) and its draft length.

    ``_follow`` maps an n-gram to the position just after its latest occurrence whose next
    token is known; the index is brought up to date lazily, on each ``propose``.
    """

    k: int = START_K
    _tokens: list[int] = field(default_factory=list)
    _follow: dict[tuple[int, ...], int] = field(default_factory=dict)
    _indexed: int = 0  # positions i < _indexed have their n-grams ending at i - 1 indexed
    _skip: int = 0  # lookups still to skip after a rejected draft
    _misses: int = 0  # drafts rejected outright in a row

    def propose(self, prompt: list[int], output: list[int], limit: int) -> list[int]:
        """At most ``min(k, limit)`` tokens that followed the sequence's last n-gram where it
        occurred before, or none."""
        self._catch_up(prompt, output)
        if self._skip > 0:
            self._skip -= 1
            return []
        n = min(self.k, limit)
        if n <= 0:
            return []
        tokens = self._tokens
        end = len(tokens)
        for size in NGRAMS:
            if end <= size:
                continue
            at = self._follow.get(tuple(tokens[end - size :]))
            if at is not None:
                return tokens[at : at + n]
        return []

    def settle(self, proposed: int, accepted: int) -> None:
        """Adapt ``k`` to how many of ``proposed`` draft tokens the model accepted."""
        if accepted == proposed:
            self.k = min(2 * self.k, MAX_K)
            self._misses = 0
        elif accepted > 0:
            self.k = max(1, accepted)
            self._misses = 0
        else:
            self._misses += 1
            self.k = START_K
            self._skip = min(1 << self._misses, MAX_SKIP)

    def _catch_up(self, prompt: list[int], output: list[int]) -> None:
        tokens = self._tokens
        if len(tokens) < len(prompt):
            tokens.extend(prompt[len(tokens) :])
        done = len(tokens) - len(prompt)
        if done < len(output):
            tokens.extend(output[done:])
        follow = self._follow
        # The n-gram ending at i - 1 is followed by token i: index it for every known i.
        for i in range(max(self._indexed, 1), len(tokens)):
            for size in NGRAMS:
                if i >= size:
                    follow[tuple(tokens[i - size : i])] = i
        self._indexed = len(tokens)


class Speculator:
    """Which decoding sequences draft this step, and how many tokens each."""

    def __init__(self, mode: SpeculationMode, *, max_running: int) -> None:
        self.mode = mode
        self.max_running = max_running

    def drafts(
        self, decoding: list[Sequence], *, running: int, room: int
    ) -> dict[Sequence, list[int]]:
        """Draft tokens per sequence among ``decoding``, ``room`` rows at most in all."""
        if self.mode is SpeculationMode.OFF or room <= 0:
            return {}
        if self.mode is SpeculationMode.AUTO and running > self.max_running:
            return {}
        out: dict[Sequence, list[int]] = {}
        for seq in decoding:
            if seq.lookup is None:
                seq.lookup = PromptLookup()
            # The token after the last draft is sampled anyway: never draft past max_tokens.
            limit = min(seq.max_new_tokens - len(seq.output) - 1, room)
            draft = seq.lookup.propose(seq.prompt, seq.output, limit)
            if draft:
                out[seq] = draft
                room -= len(draft)
                if room <= 0:
                    break
        return out
