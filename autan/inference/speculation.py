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

The output is the one the sequence gives without speculation wherever a decode of ``k + 1``
rows computes the logits of ``k + 1`` one-row decodes: under greedy decoding each row's argmax
is then the token a single step would have produced. On the packaged SmolLM2 that holds to the
bit while the KV in view is under 512 cells (the rows of one sequence stay below the tiled
attention path, see ``prefix_cache``); past that, and on Q4_K_M weights from four rows, llama.cpp
computes with other kernels and a near tie can go the other way, as it can when the sequence
shares its batch with others.

Under sampling, drawing ``y ~ p`` from the row and keeping the draft token ``x`` when
``y == x`` is standard speculative sampling for a deterministic proposal (``q`` one-hot on
``x``): ``x`` is accepted with probability ``p(x)``, and on rejection ``y`` is distributed as
``p`` with ``x`` removed and renormalised. Each row draws one number from the sequence's RNG,
as each single step does, so a seeded request gives the same text with or without
speculation. Penalties, ``min_tokens`` and grammars apply per row as per step: a grammar's
matcher checks every draft token the sampler would draw (each row is masked after the previous
one was consumed), so constrained sequences speculate too.

A draft token costs a row of compute whether it is accepted or not, and on a CPU a decode's
cost grows with its rows, unevenly: llama.cpp multiplies one row with its own kernel and
more rows four at a time, so on 2 cores a second row adds about 0.9 of a one-row step, and
16 rows cost less than 17 (6.5 and 7.5 steps on Qwen2.5-Coder-0.5B). ``StepCost`` measures
what a decode of ``n`` rows costs on this machine, as a multiple of one row. Each sequence
counts, per draft position ``i``, how often the model took the ``i``-th draft token once it
had taken the ones before (``PromptLookup.survival``): copying runs long, so once a draft
starts to be taken it tends to be taken whole, which a single acceptance rate would not
say. A draft is as long as maximises the tokens a step is expected to give over what the
step costs, none when no length beats a one-row step. A sequence that does not draft still
looks its draft up and checks it against the tokens it then samples, which costs no row: the
counts follow the text while nothing is verified, and drafting starts again a few tokens into
a copied passage. In ``auto`` mode only steps with at most
``max_running`` running sequences speculate: a batch of many sequences already keeps the
machine busy. ``on`` drafts ``MAX_K`` tokens whenever a lookup finds some, whatever they
cost.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autan.inference.sequence import Sequence

# The n-gram sizes looked up, longest first: a bigram repeats by chance in free text too often.
NGRAMS = (4, 3)
# Draft tokens per verify: with the token sampled anyway, 16 rows, a multiple of the four rows
# llama.cpp's CPU kernels multiply at once. A sequence's rows in one decode stay well under
# ``MIN_PREFILL`` (64), the count from which llama.cpp's CPU attention takes another kernel.
MAX_K = 15
# What a decode of n rows costs, in one-row decodes, until measured: 1 + PRIOR_ROW_COST * (n - 1).
# Below what rows cost on 2 cores (0.4 to 0.5 past the second), so that every length is tried
# once and then known.
PRIOR_ROW_COST = 0.3
# The survival prior, worth PRIOR_DRAFTS drafts: the first draft token taken 7 times in 10,
# each later one 9 times in 10 once the ones before it were (about what chat and edits give on
# the packaged and the code model, in between). Drafts checked without being verified soon
# outweigh it.
PRIOR_DRAFTS = 1.0
PRIOR_FIRST, PRIOR_NEXT = 0.7, 0.9
# An unverified draft whose first SHADOW_HORIZON tokens came is counted then, and looked up
# anew: a sequence back in a copied passage drafts again after a few tokens, not MAX_K.
SHADOW_HORIZON = 4
# How much a sequence's older drafts weigh against its latest, per draft.
DECAY = 0.9


class SpeculationMode(enum.StrEnum):
    AUTO = "auto"  # when few sequences run, and drafts pay on this machine
    ON = "on"  # always
    OFF = "off"  # never


def _prior(rate_first: float, rate_next: float) -> list[float]:
    return [PRIOR_DRAFTS * (rate_first if i == 0 else rate_next) for i in range(MAX_K)]


@dataclass(slots=True)
class PromptLookup:
    """One sequence's n-gram index over its tokens (prompt, then output) and how far the
    model has followed its drafts.

    ``_follow`` maps an n-gram to the position just after its latest occurrence whose next
    token is known; the index is brought up to date lazily, on each ``propose``. ``_reached[i]``
    counts the drafts whose token ``i + 1`` was verified after tokens ``1..i`` were taken, and
    ``_taken[i]`` those of them whose token ``i + 1`` was taken too (both decayed).
    """

    _reached: list[float] = field(default_factory=lambda: [PRIOR_DRAFTS] * MAX_K)
    _taken: list[float] = field(default_factory=lambda: _prior(PRIOR_FIRST, PRIOR_NEXT))
    _tokens: list[int] = field(default_factory=list)
    _follow: dict[tuple[int, ...], int] = field(default_factory=dict)
    _indexed: int = 0  # positions i < _indexed have their n-grams ending at i - 1 indexed
    _shadow: list[int] = field(default_factory=list)  # a draft looked up but not verified
    _shadow_at: int = 0  # the token index it guessed from

    def survival(self) -> list[float]:
        """Per draft length ``k`` (index ``k - 1``): the chance the model takes a draft's first
        ``k`` tokens."""
        out, alive = [], 1.0
        for reached, taken in zip(self._reached, self._taken, strict=True):
            alive *= taken / reached
            out.append(alive)
        return out

    def length(self, relative: Callable[[int], float], limit: int = MAX_K) -> int:
        """Draft tokens worth verifying when a decode of ``n`` rows costs ``relative(n)``
        one-row decodes: the ``k`` that gives the most tokens per unit of cost, a step that
        verifies ``k`` yielding ``1 + sum(survival[:k])`` tokens on average; 0 when none
        beats drafting nothing."""
        best, best_k, expected = 1.0, 0, 1.0
        for k, alive in enumerate(self.survival()[: max(0, limit)], start=1):
            expected += alive
            value = expected / relative(k + 1)
            if value > best * (1.0 + 1e-6):
                best, best_k = value, k
        return best_k

    def propose(self, prompt: list[int], output: list[int], limit: int) -> list[int]:
        """At most ``limit`` tokens that followed the sequence's last n-gram where it occurred
        before, or none."""
        self._catch_up(prompt, output)
        return self._following(limit)

    def _following(self, limit: int) -> list[int]:
        """``propose`` over the index as it stands."""
        tokens = self._tokens
        end = len(tokens)
        if limit <= 0:
            return []
        for size in NGRAMS:
            if end <= size:
                continue
            at = self._follow.get(tuple(tokens[end - size :]))
            if at is not None:
                return tokens[at : at + limit]
        return []

    def draft(
        self, prompt: list[int], output: list[int], limit: int, relative: Callable[[int], float]
    ) -> list[int]:
        """The draft to verify this step: ``length(relative)`` tokens at most. When drafting
        does not pay, the draft ``MAX_K`` tokens long is kept instead, and checked against the
        tokens as they are sampled: the survival keeps being measured at no cost."""
        self._catch_up(prompt, output)
        self._check_shadow()
        k = self.length(relative, limit)
        if k == 0:
            if not self._shadow:
                self._shadow = self._following(MAX_K)
                self._shadow_at = len(self._tokens)
            return []
        self._shadow = []
        return self._following(min(k, limit))

    def _check_shadow(self) -> None:
        """Settle the unverified draft once the sampled tokens have taken or refused it."""
        shadow = self._shadow
        if not shadow:
            return
        came = self._tokens[self._shadow_at : self._shadow_at + len(shadow)]
        pairs = enumerate(zip(shadow, came, strict=False))
        taken = next((i for i, (x, y) in pairs if x != y), len(came))
        if taken < len(came):  # refused: what it says about every position is known
            self.settle(len(shadow), taken)
            self._shadow = []
        elif len(came) >= min(SHADOW_HORIZON, len(shadow)):  # taken so far: say so, look again
            self.settle(len(came), taken)
            self._shadow = []

    def settle(self, proposed: int, accepted: int) -> None:
        """Count how many of ``proposed`` draft tokens the model accepted; older drafts weigh
        less, so the estimate follows the text (a copied passage, then free prose)."""
        reached, taken = self._reached, self._taken
        for i in range(MAX_K):
            reached[i] *= DECAY
            taken[i] *= DECAY
        # Tokens 1..accepted were taken; token accepted + 1, if there was one, was refused.
        for i in range(min(proposed, accepted + 1)):
            reached[i] += 1.0
            if i < accepted:
                taken[i] += 1.0

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


class StepCost:
    """What a decode of ``n`` rows of one sequence costs on this machine, in one-row decodes:
    the seconds of each row count, averaged with older ones weighing less, over those of one
    row; ``1 + PRIOR_ROW_COST * (n - 1)`` until both are measured."""

    def __init__(self, weight: float = 0.2) -> None:
        self.weight = weight
        self._seconds: list[float | None] = [None] * (MAX_K + 2)

    def observe(self, rows: int, seconds: float) -> None:
        if not 0 < rows < len(self._seconds):
            return
        old = self._seconds[rows]
        self._seconds[rows] = seconds if old is None else old + self.weight * (seconds - old)

    def relative(self, rows: int) -> float:
        one = self._seconds[1]
        measured = self._seconds[rows] if 0 < rows < len(self._seconds) else None
        if one is None or measured is None or one <= 0.0:
            return 1.0 + PRIOR_ROW_COST * (rows - 1)
        return measured / one


class Speculator:
    """Which decoding sequences draft this step, and how many tokens each."""

    def __init__(self, mode: SpeculationMode, *, max_running: int) -> None:
        self.mode = mode
        self.max_running = max_running
        self.cost = StepCost()

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
            if self.mode is SpeculationMode.ON:  # verified whatever it costs
                draft = seq.lookup.propose(seq.prompt, seq.output, min(MAX_K, limit))
            else:
                draft = seq.lookup.draft(seq.prompt, seq.output, limit, self.cost.relative)
            if draft:
                out[seq] = draft
                room -= len(draft)
                if room <= 0:
                    break
        return out
