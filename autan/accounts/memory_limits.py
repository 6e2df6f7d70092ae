"""Limits held in this process: exact for one ``autan serve``, not shared with others."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from autan.accounts import gcra
from autan.accounts.gcra import Decision


def _now_us() -> int:
    return time.monotonic_ns() // 1000


class MemoryLimits:
    def __init__(self, clock: Callable[[], int] = _now_us) -> None:
        self._clock = clock
        self._tats: dict[str, int] = {}
        self._spend: dict[str, float] = {}
        # Requests are served on one event loop, but the CLI and tests may call from threads.
        self._lock = threading.Lock()

    def take(self, bucket: str, limit: int, cost: int) -> Decision:
        with self._lock:
            now = self._clock()
            tat, decision = gcra.take(self._tats.get(bucket, now), now, limit, cost)
            self._tats[bucket] = tat
            return decision

    def refund(self, bucket: str, limit: int, units: int) -> None:
        with self._lock:
            if bucket in self._tats:
                now = self._clock()
                self._tats[bucket] = gcra.refund(self._tats[bucket], now, limit, units)

    def peek(self, bucket: str, limit: int) -> Decision:
        with self._lock:
            now = self._clock()
            return Decision(True, limit, gcra.remaining(self._tats.get(bucket, now), now, limit))

    def reserve_spend(
        self, bucket: str, limit: float, amount: float, spent: Callable[[], float]
    ) -> float | None:
        with self._lock:
            total = self._spend[bucket] if bucket in self._spend else spent()
            self._spend[bucket] = total
            if total + amount > limit:
                return None
            self._spend[bucket] = total + amount
            return total + amount

    def add_spend(self, bucket: str, amount: float) -> None:
        with self._lock:
            if bucket in self._spend:
                self._spend[bucket] += amount

    def close(self) -> None:
        pass
