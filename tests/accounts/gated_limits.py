"""A limit store that stands in for a slow Redis: chosen calls wait until the test opens a gate.

Each call notes whether it was made on a thread running an event loop, the thing a limit
check must never do.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

from autan.accounts.gcra import Decision
from autan.accounts.memory_limits import MemoryLimits


@dataclass(frozen=True, slots=True)
class LimitCall:
    operation: str  # take, refund, peek, reserve_spend, add_spend
    bucket: str
    on_event_loop: bool


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class GatedLimits:
    """``MemoryLimits`` whose calls for which ``held(operation, bucket)`` is true wait for
    ``gate``; ``waiting`` is set once one of them waits."""

    def __init__(self, held: Callable[[str, str], bool]) -> None:
        self.limits = MemoryLimits()
        self.held = held
        self.gate = threading.Event()
        self.waiting = threading.Event()
        self.calls: list[LimitCall] = []
        self._done = threading.Condition()

    def hold(self, held: Callable[[str, str], bool]) -> None:
        """Hold the calls ``held`` chooses from now on, behind a closed gate."""
        self.held = held
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def _enter(self, operation: str, bucket: str) -> None:
        if self.held(operation, bucket):
            gate = self.gate
            self.waiting.set()
            assert gate.wait(30), f"the gate of {operation} {bucket} was never opened"

    def _leave(self, operation: str, bucket: str, on_event_loop: bool) -> None:
        with self._done:
            self.calls.append(LimitCall(operation, bucket, on_event_loop))
            self._done.notify_all()

    def wait_for(self, operation: str, bucket: str, timeout: float = 10.0) -> bool:
        """Whether a call of ``operation`` on ``bucket`` has ended, waiting up to ``timeout``."""
        with self._done:
            return self._done.wait_for(
                lambda: any(c.operation == operation and c.bucket == bucket for c in self.calls),
                timeout,
            )

    def take(self, bucket: str, limit: int, cost: int) -> Decision:
        on_loop = _on_event_loop()
        self._enter("take", bucket)
        decision = self.limits.take(bucket, limit, cost)
        self._leave("take", bucket, on_loop)
        return decision

    def refund(self, bucket: str, limit: int, units: int) -> None:
        on_loop = _on_event_loop()
        self._enter("refund", bucket)
        self.limits.refund(bucket, limit, units)
        self._leave("refund", bucket, on_loop)

    def peek(self, bucket: str, limit: int) -> Decision:
        on_loop = _on_event_loop()
        self._enter("peek", bucket)
        decision = self.limits.peek(bucket, limit)
        self._leave("peek", bucket, on_loop)
        return decision

    def reserve_spend(
        self, bucket: str, limit: float, amount: float, spent: Callable[[], float]
    ) -> float | None:
        on_loop = _on_event_loop()
        self._enter("reserve_spend", bucket)
        total = self.limits.reserve_spend(bucket, limit, amount, spent)
        self._leave("reserve_spend", bucket, on_loop)
        return total

    def add_spend(self, bucket: str, amount: float) -> None:
        on_loop = _on_event_loop()
        self._enter("add_spend", bucket)
        self.limits.add_spend(bucket, amount)
        self._leave("add_spend", bucket, on_loop)

    def close(self) -> None:
        self.limits.close()
