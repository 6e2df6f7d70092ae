"""GCRA, the generic cell rate algorithm: an exact per-minute limit kept as one timestamp.

A bucket of ``limit`` units refills evenly over a minute. Its state is the theoretical arrival
time (TAT): when the bucket would be full again. Taking ``cost`` units moves the TAT forward by
``cost * 60 s / limit``; the take is allowed while the TAT stays within one minute of now. So a
key may burst its whole minute at once, and never more than ``limit`` units in any 60 s plus
what refilled meanwhile. Times are integer microseconds, so sums of increments are exact; the
Lua scripts in ``redis_limits.py`` do the same arithmetic on Redis's clock.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_US = 60_000_000


@dataclass(frozen=True, slots=True)
class Decision:
    """What a take (or a look) found: allowed or not, what is left, how long to wait."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_us: int = 0

    @property
    def retry_after_s(self) -> int:
        """Whole seconds, rounded up: waiting that long is always enough."""
        return -(-self.retry_after_us // 1_000_000)


def increment_us(limit: int, units: int) -> int:
    return (units * WINDOW_US + limit // 2) // limit


def remaining(tat: int, now: int, limit: int) -> int:
    return max(0, (WINDOW_US - (max(tat, now) - now)) * limit // WINDOW_US)


def take(tat: int, now: int, limit: int, cost: int) -> tuple[int, Decision]:
    """The new TAT and the decision for taking ``cost`` units at ``now``."""
    new_tat = max(tat, now) + increment_us(limit, cost)
    if new_tat - now > WINDOW_US:
        wait = new_tat - WINDOW_US - now
        return tat, Decision(False, limit, remaining(tat, now, limit), wait)
    return new_tat, Decision(True, limit, remaining(new_tat, now, limit))


def refund(tat: int, now: int, limit: int, units: int) -> int:
    """Give back units reserved but not used; a bucket never holds more than ``limit``."""
    return max(now, tat - increment_us(limit, units))
