"""Limits in Redis, shared exactly by every ``autan serve`` process pointing at it.

Each check-and-update is one Lua script, so no two processes can both take the last unit, and
every script reads Redis's own clock (``TIME``), so processes with skewed clocks still agree.
The arithmetic is ``gcra.py``'s, in integer microseconds (exact in Lua's doubles up to 2^53).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from autan.accounts.gcra import WINDOW_US, Decision

# KEYS[1] = bucket; ARGV = limit, cost. Returns {allowed, remaining, retry_after_us}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[3])
local limit = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local base = math.max(tat, now)
local new_tat = base + math.floor((cost * window + math.floor(limit / 2)) / limit)
if new_tat - now > window then
  local left = math.floor((window - (base - now)) * limit / window)
  return {0, math.max(left, 0), new_tat - window - now}
end
local ttl_ms = math.floor((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return {1, math.floor((window - (new_tat - now)) * limit / window), 0}
"""

# KEYS[1] = bucket; ARGV = limit, units.
_REFUND = """
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local back = math.floor((tonumber(ARGV[2]) * tonumber(ARGV[3]) + math.floor(limit / 2)) / limit)
local new_tat = math.max(now, tat - back)
local ttl_ms = math.floor((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return 1
"""

# KEYS[1] = bucket; ARGV = limit. Returns remaining.
_PEEK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local left = math.floor((window - (math.max(tat, now) - now)) * tonumber(ARGV[1]) / window)
return math.max(left, 0)
"""

# KEYS[1] = spend bucket; ARGV = limit, amount, seed ('' when not read yet), ttl seconds.
# Returns the new total as a string, 'full' when it does not fit, 'seed' when a seed is needed.
_RESERVE_SPEND = """
local spent = redis.call('GET', KEYS[1])
if not spent then
  if ARGV[3] == '' then return 'seed' end
  spent = ARGV[3]
  redis.call('SET', KEYS[1], spent, 'EX', tonumber(ARGV[4]))
end
if tonumber(spent) + tonumber(ARGV[2]) > tonumber(ARGV[1]) then return 'full' end
return redis.call('INCRBYFLOAT', KEYS[1], ARGV[2])
"""

# KEYS[1] = spend bucket; ARGV = amount.
_ADD_SPEND = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBYFLOAT', KEYS[1], ARGV[1]) end
return 1
"""

# A month's spend counter outlives the month, so a late correction never re-seeds it.
_SPEND_TTL_S = 40 * 24 * 3600


class RedisLimits:
    def __init__(self, url: str, *, prefix: str = "autan:") -> None:
        self._redis: Any = redis.Redis.from_url(url)
        self._prefix = prefix
        self._take = self._redis.register_script(_TAKE)
        self._refund = self._redis.register_script(_REFUND)
        self._peek = self._redis.register_script(_PEEK)
        self._reserve = self._redis.register_script(_RESERVE_SPEND)
        self._add = self._redis.register_script(_ADD_SPEND)

    def _key(self, bucket: str) -> str:
        # The hash tag keeps one key's buckets on one Redis Cluster slot.
        name, _, rest = bucket.partition(":")
        return f"{self._prefix}{{{name}}}:{rest}"

    def take(self, bucket: str, limit: int, cost: int) -> Decision:
        allowed, left, wait = self._take(keys=[self._key(bucket)], args=[limit, cost, WINDOW_US])
        return Decision(bool(allowed), limit, int(left), int(wait))

    def refund(self, bucket: str, limit: int, units: int) -> None:
        self._refund(keys=[self._key(bucket)], args=[limit, units, WINDOW_US])

    def peek(self, bucket: str, limit: int) -> Decision:
        left = self._peek(keys=[self._key(bucket)], args=[limit, WINDOW_US])
        return Decision(True, limit, int(left))

    def reserve_spend(
        self, bucket: str, limit: float, amount: float, spent: Callable[[], float]
    ) -> float | None:
        key = self._key(bucket)
        result = self._reserve(keys=[key], args=[repr(limit), repr(amount), "", _SPEND_TTL_S])
        if result == b"seed":
            seeded = [repr(limit), repr(amount), repr(spent()), str(_SPEND_TTL_S)]
            result = self._reserve(keys=[key], args=seeded)
        return None if result == b"full" else float(result)

    def add_spend(self, bucket: str, amount: float) -> None:
        self._add(keys=[self._key(bucket)], args=[repr(amount)])

    def close(self) -> None:
        self._redis.close()
