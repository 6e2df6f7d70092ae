"""A constrained reply's token budget: it must leave room for the grammar to be completed.

A reply under a grammar (a JSON schema, a forced tool call) that runs out of tokens mid-string
is worth nothing to its client. ``ReplyBudget`` keeps a way out in sight: a short sequence of
tokens that completes the grammar from where the reply stands (``Constraint.closing``). While
the budget is far from that length it only looks again now and then; within a margin of it
(``WINDOW`` and the shortest complete reply), it checks each sampled token: a token after
which no completion fits in what is left is replaced by the completion known to fit, and the
reply ends there, complete and valid, with finish reason ``length``.

The walks cost about a quarter of a millisecond per token of the completion, so they run only
near the end of the budget, and not at all while the model follows the completion itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from autan.inference.constraints import Constraint

# Checks start when the budget left exceeds the known completion by at most this many tokens:
# a single token rarely makes the completion longer by more (a new key with a long value).
WINDOW = 16


@dataclass(slots=True)
class ReplyBudget:
    """One constrained sequence's room to complete: ``limit`` output tokens in all."""

    constraint: Constraint
    limit: int
    path: list[int] | None = None  # a completion from the state after ``at`` output tokens
    at: int = 0
    next_check: int = 0  # the first output count whose token is checked
    # How much one token may lengthen the completion: ``WINDOW``, plus the shortest reply
    # from the grammar's start, which bounds what a token opening a new call, item or key
    # adds (another parallel tool call needs its required arguments).
    margin: int = WINDOW

    @classmethod
    def start(cls, constraint: Constraint, limit: int, shortest: list[int] | None) -> ReplyBudget:
        """``shortest``: a completion from the grammar's start (``Grammars.shortest``); None
        when none is known, and then the budget is never checked."""
        budget = cls(constraint, limit, shortest)
        budget.margin = WINDOW + (len(shortest) if shortest else 0)
        budget._schedule(0)
        return budget

    def check(self, produced: int, token: int) -> list[int] | None:
        """``token`` was sampled after ``produced`` output tokens: None to take it, else the
        tokens that end the reply instead, because no completion after ``token`` fits."""
        if produced + 1 < self.next_check:
            return None
        room = self.limit - produced - 1
        if self.path and self.at == produced and self.path[0] == token:
            after: list[int] | None = self.path[1:]  # the model takes the known way out
        else:
            after = self.constraint.closing(room, after=token)
        if after is not None and len(after) <= room:
            self.path, self.at = after, produced + 1
            self._schedule(produced + 1)
            return None
        if self.at != produced:  # the known completion is from an earlier state
            self.path, self.at = self.constraint.closing(room + 1), produced
        return self.path

    def forced(self, produced: int, tokens: list[int]) -> None:
        """``tokens`` the grammar forced were appended after ``produced`` output tokens."""
        n = len(tokens)
        if self.path is not None and self.at == produced and self.path[:n] == tokens:
            self.path, self.at = self.path[n:], produced + n

    def _schedule(self, produced: int) -> None:
        if self.path is None:
            self.next_check = self.limit + 1
            return
        slack = self.limit - produced - len(self.path)
        # Far from the end, look again when half the slack beyond the margin is spent.
        self.next_check = produced + 1 + max(0, (slack - self.margin) // 2)
