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
``p`` with ``x`` removed and renormalised. Each row draws one number from the sequence's RNG,
as each single step does, so a seeded request gives the same text with or without
speculation. Penalties, ``min_tokens`` and grammars apply per row as per step: a grammar's
matcher checks every draft token the sampler would draw (each row is masked after the previous
one was consumed), so constrained sequences speculate too.

A draft token costs a row of compute whether it is accepted or not, and on a CPU a decode's
cost grows with its rows: a draft pays only where the model takes enough of it. ``RowCost``
measures what a row adds to a decode on this machine (a share ``c`` of a one-row step), each
sequence counts how often the model takes its draft tokens (``a``), and a draft is as long as
its last token still pays, ``a ** k > c``: none when ``a <= c``, longer as the model keeps
agreeing, up to ``MAX_K``. A sequence that does not draft probes with one token now and then.
In ``auto`` mode only steps with at most ``max_running`` running sequences speculate: a batch
of many sequences already keeps the machine busy. ``on`` drafts ``MAX_K`` tokens whenever a
lookup finds some, whatever they cost.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autan.inference.sequence import Sequence

# The n-gram sizes looked up, longest first: a bigram repeats by chance in free text too often.
NGRAMS = (4, 3)
# Draft tokens per verify. A sequence's rows in one decode stay well under ``MIN_PREFILL``
# (64), the count from which llama.cpp's CPU attention takes another kernel.
MAX_K = 16
# What one more row adds to a one-row decode, until measured: on 2 CPU cores a SmolLM2-135M
# decode row costs about as much as the fixed part of a decode (see ``LlamaContext.decode``).
PRIOR_ROW_COST = 0.5
# A sequence that does not draft tries one token this often, to learn whether it now would.
PROBE_EVERY = 32


class SpeculationMode(enum.StrEnum):
    AUTO = "auto"  # when few sequences run, and drafts pay on this machine
    ON = "on"  # always
    OFF = "off"  # never


@dataclass(slots=True)
class PromptLookup:
    """One sequence's n-gram index over its tokens (prompt, then output) and how often the
    model has taken its draft tokens.

    ``_follow`` maps an n-gram to the position just after its latest occurrence whose next
    token is known; the index is brought up to date lazily, on each ``propose``.
    """

    _taken: float = 2.0  # draft tokens accepted (decayed), from a prior of 2 in 3
    _refused: float = 1.0  # drafts cut short by a rejected token (decayed)
    _tokens: list[int] = field(default_factory=list)
    _follow: dict[tuple[int, ...], int] = field(default_factory=dict)
    _indexed: int = 0  # positions i < _indexed have their n-grams ending at i - 1 indexed
    _idle: int = 0  # lookups since the last draft

    @property
    def acceptance(self) -> float:
        """The chance that the model takes the next draft token, given it took the previous."""
        return self._taken / (self._taken + self._refused)

    def length(self, row_cost: float) -> int:
        """Draft tokens worth verifying when a row costs ``row_cost`` of a one-row decode.

        The ``i``-th draft token is used with probability ``a ** i`` (``a`` the acceptance)
        and saves a whole decode when it is; it costs ``row_cost`` either way. So drafting
        pays up to the largest ``k`` with ``a ** k > row_cost``.
        """
        a = self.acceptance
        if a <= row_cost:
            return 0
        if a >= 1.0 or row_cost <= 0.0:
            return MAX_K
        return min(MAX_K, int(math.log(row_cost) / math.log(a)))

    def propose(self, prompt: list[int], output: list[int], limit: int) -> list[int]:
        """At most ``limit`` tokens that followed the sequence's last n-gram where it occurred
        before, or none."""
        self._catch_up(prompt, output)
        if limit <= 0:
            return []
        tokens = self._tokens
        end = len(tokens)
        for size in NGRAMS:
            if end <= size:
                continue
            at = self._follow.get(tuple(tokens[end - size :]))
            if at is not None:
                return tokens[at : at + limit]
        return []

    def draft(self, prompt: list[int], output: list[int], limit: int, row_cost: float) -> list[int]:
        """The draft to verify this step: ``length(row_cost)`` tokens at most, and one now and
        then when drafts do not pay, so that the acceptance keeps being measured."""
        k = self.length(row_cost)
        self._idle += 1
        if k == 0 and self._idle >= PROBE_EVERY:
            k = 1
        out = self.propose(prompt, output, min(k, limit))
        if out:
            self._idle = 0
        return out

    def settle(self, proposed: int, accepted: int) -> None:
        """Count how many of ``proposed`` draft tokens the model accepted; older drafts weigh
        less, so the estimate follows the text (a copied passage, then free prose)."""
        self._taken = 0.9 * self._taken + accepted
        self._refused = 0.9 * self._refused + (1.0 if accepted < proposed else 0.0)

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


class RowCost:
    """What one more row adds to a one-row decode step on this machine, as a share of it:
    decode seconds fitted as ``a + b * rows`` by least squares over recent decode-only steps
    (older ones decay), and ``b / (a + b)``."""

    def __init__(self, decay: float = 0.98) -> None:
        self.decay = decay
        self._n = self._x = self._y = self._xx = self._xy = 0.0

    def observe(self, rows: int, seconds: float) -> None:
        d = self.decay
        self._n = d * self._n + 1.0
        self._x = d * self._x + rows
        self._y = d * self._y + seconds
        self._xx = d * self._xx + rows * rows
        self._xy = d * self._xy + rows * seconds

    @property
    def share(self) -> float:
        n = self._n
        if n < 8:
            return PRIOR_ROW_COST
        mean_x, mean_y = self._x / n, self._y / n
        var = self._xx / n - mean_x * mean_x
        if var < 0.25:  # the rows hardly varied: no slope to read
            return PRIOR_ROW_COST
        b = (self._xy / n - mean_x * mean_y) / var
        one = mean_y - b * mean_x + b
        if one <= 0.0:
            return PRIOR_ROW_COST
        return min(max(b / one, 0.01), 1.0)


class Speculator:
    """Which decoding sequences draft this step, and how many tokens each."""

    def __init__(self, mode: SpeculationMode, *, max_running: int) -> None:
        self.mode = mode
        self.max_running = max_running
        self.cost = RowCost()

    def drafts(
        self, decoding: list[Sequence], *, running: int, room: int
    ) -> dict[Sequence, list[int]]:
        """Draft tokens per sequence among ``decoding``, ``room`` rows at most in all."""
        if self.mode is SpeculationMode.OFF or room <= 0:
            return {}
        if self.mode is SpeculationMode.AUTO and running > self.max_running:
            return {}
        # Forced on, drafts are verified whatever they cost: only a free row is assumed.
        row_cost = self.cost.share if self.mode is SpeculationMode.AUTO else 0.0
        out: dict[Sequence, list[int]] = {}
        for seq in decoding:
            if seq.lookup is None:
                seq.lookup = PromptLookup()
            # The token after the last draft is sampled anyway: never draft past max_tokens.
            limit = min(seq.max_new_tokens - len(seq.output) - 1, room)
            draft = seq.lookup.draft(seq.prompt, seq.output, limit, row_cost)
            if draft:
                out[seq] = draft
                room -= len(draft)
                if room <= 0:
                    break
        return out
