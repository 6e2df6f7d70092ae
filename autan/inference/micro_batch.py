"""How libllama cuts a decode into micro-batches, and how many tokens each decoding sequence
feeds in a step so that the cut stays cheap.

With one KV stream per slot, libllama's ``split_equal`` builds each micro-batch from a run of
consecutive sequence ids, taken from the first token not yet decoded, and takes the same
number of tokens from each: as many as the one with the fewest left has. Eight sequences that
feed 1, 1, 3, 1, 2, 1, 1, 1 tokens (tokens a grammar forced, draft tokens) make three
micro-batches of 8, 2 and 1 rows, and each micro-batch is a pass over the weights: a fixed
part (about what a row costs, on two CPU cores) that a pass of one or two rows does not
amortise. A step that costs ``F * passes + r * rows`` for ``rows`` tokens is cheapest per token
when its rows per pass are most, so ``cap`` picks the largest per-sequence count at which
the step's rows per pass are highest: the sequences above it feed the rest of their tokens in
the next steps, each one a row of the first pass (which runs anyway). One sequence, or one
that feeds many forced tokens in a pass of its own, keeps them all.
"""

from __future__ import annotations

from collections.abc import Mapping


def passes(counts: Mapping[int, int]) -> list[int]:
    """The rows of each micro-batch libllama makes of a batch whose rows go in slot order,
    ``counts[slot]`` tokens for each slot in it (pads included)."""
    left = {slot: n for slot, n in counts.items() if n > 0}
    out: list[int] = []
    while left:
        start = min(left)
        run = [start]
        while run[-1] + 1 in left:
            run.append(run[-1] + 1)
        n = min(left[slot] for slot in run)
        out.append(n * len(run))
        for slot in run:
            left[slot] -= n
            if not left[slot]:
                del left[slot]
    return out


def cap(fixed: Mapping[int, int], wanted: Mapping[int, int]) -> int:
    """The most tokens each slot of ``wanted`` (decoding sequences: at least one token each)
    feeds this step, beside the ``fixed`` counts of the others (prefill chunks, pads): the
    largest cap with the most rows per pass."""
    best, best_score = 1, 0.0
    for level in sorted({1, *wanted.values()}):
        counts = dict(fixed)
        for slot, n in wanted.items():
            counts[slot] = min(n, level)
        rows = passes(counts)
        score = sum(rows) / len(rows)
        if score >= best_score:
            best, best_score = level, score
    return best


def lone_gaps(slots: set[int]) -> set[int]:
    """The free slots ``LlamaContext.decode`` may pad with a token: one free slot between two
    busy ones."""
    return {s + 1 for s in slots if s + 1 not in slots and s + 2 in slots}
