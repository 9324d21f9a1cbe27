"""Per-caller rate limit: a token bucket for each caller, a bounded number of callers remembered.

A caller is its authenticated namespace, or its address when it has none (so a guesser of tokens is
slowed down by its address). A request over the limit gets HTTP 429 with ``Retry-After``: the whole
seconds until the caller's bucket holds a token again.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``rate`` requests per second per caller on average, bursts of up to ``burst``.

    At most ``max_callers`` buckets are kept (the least recently seen is forgotten first, which only
    ever gives that caller a full bucket back). Not thread-safe: used from the event loop.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_callers: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_callers = max_callers
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, caller: str) -> float | None:
        """Take one request from ``caller``'s bucket: None when allowed, else the seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(caller)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
            self._buckets[caller] = bucket
            while len(self._buckets) > self.max_callers:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(caller)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate


def retry_after_header(wait_s: float) -> str:
    """The ``Retry-After`` value for a wait: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_s)))
