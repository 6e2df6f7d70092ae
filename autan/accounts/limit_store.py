"""Where limit state lives: this process's memory, or Redis shared by every process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from autan.accounts.gcra import Decision


class LimitStore(Protocol):
    """Rate buckets (GCRA, per minute) and monthly spend counters, each checked and updated in
    one atomic step."""

    def take(self, bucket: str, limit: int, cost: int) -> Decision:
        """Take ``cost`` units if the bucket allows it; nothing is taken otherwise."""
        ...

    def refund(self, bucket: str, limit: int, units: int) -> None: ...

    def peek(self, bucket: str, limit: int) -> Decision:
        """What is left, taking nothing."""
        ...

    def reserve_spend(
        self, bucket: str, limit: float, amount: float, spent: Callable[[], float]
    ) -> float | None:
        """Add ``amount`` to the month's spend if it stays within ``limit``; the new total, or
        None if it would not fit. ``spent`` reads the month's total from the ledger, the first
        time a bucket is used."""
        ...

    def add_spend(self, bucket: str, amount: float) -> None:
        """Correct a reservation by what the request really cost (``amount`` may be < 0), or
        count a request made while no limit was set. A bucket never reserved from is left
        alone: it is read from the ledger when a limit first applies."""
        ...

    def close(self) -> None: ...
