"""Per-sender rate limiting, so one sender's flood cannot slow everyone else down.

A token bucket per conversation: RATE_LIMIT_BURST messages at once (default 10), refilled at
RATE_LIMIT_PER_MINUTE (default 30); "0" for either turns limiting off. A person typing, even
fast, never reaches it. Messages over the limit are not processed (that is what protects the
others); the sender is told once per flood, with the clinic's number and the emergency
instructions, so a real patient caught by it is never left without a way to get help.
Limits are per Rasa server process; in front of several replicas the proxy limits per IP too
(deploy/nginx.conf).

Web chat history requests (a page load or reconnect asks for the conversation so far) have
their own bucket per conversation: HISTORY_BURST (default 5) at once, refilled at
HISTORY_PER_MINUTE (default 6). nginx counts HTTP requests, not socket.io frames, so without
it one socket could ask for a long conversation in a loop.
"""
from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

MAX_TRACKED = 50_000


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    told: bool = False


class SenderRateLimiter:
    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_tracked: int = MAX_TRACKED):
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self.max_tracked = max_tracked
        self._buckets: "OrderedDict[str, _Bucket]" = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    def check(self, sender: str) -> str:
        """"ok", "tell" (refused; tell the sender now) or "drop" (refused; already told)."""
        if not self.enabled:
            return "ok"
        now = self.clock()
        bucket = self._buckets.get(sender)
        if bucket is None:
            # A hard bound: the least recently seen sender is forgotten (a fresh bucket is
            # full, so forgetting only ever errs towards letting a message through).
            while len(self._buckets) >= self.max_tracked:
                self._buckets.popitem(last=False)
            bucket = self._buckets[sender] = _Bucket(float(self.burst), now)
        else:
            self._buckets.move_to_end(sender)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.told = False
            return "ok"
        if bucket.told:
            return "drop"
        bucket.told = True
        return "tell"


def _number(name: str, default: str) -> float:
    raw = os.environ.get(name, default).strip()
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number (messages), got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


@lru_cache(maxsize=1)
def limiter() -> SenderRateLimiter:
    return SenderRateLimiter(_number("RATE_LIMIT_PER_MINUTE", "30"), int(_number("RATE_LIMIT_BURST", "10")))


@lru_cache(maxsize=1)
def history_limiter() -> SenderRateLimiter:
    return SenderRateLimiter(_number("HISTORY_PER_MINUTE", "6"), int(_number("HISTORY_BURST", "5")))
