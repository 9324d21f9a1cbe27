"""Signal values: the serving metrics the planner and the dashboard read, with their freshness."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Signal(StrEnum):
    """The serving signals a component can expose, independent of the metric names behind them."""

    QUEUE_DEPTH = "queue_depth"  # requests waiting (prefill queue, frontend queued)
    KV_USAGE = "kv_usage"  # KV-cache usage, 0..1
    INFLIGHT = "inflight"  # requests being served
    WAITING = "waiting"  # requests waiting inside a worker
    TTFT_P95 = "ttft_p95"  # seconds
    ITL_P95 = "itl_p95"  # seconds
    TTFT_P50 = "ttft_p50"  # seconds
    TTFT_P99 = "ttft_p99"  # seconds
    ITL_P50 = "itl_p50"  # seconds
    ITL_P99 = "itl_p99"  # seconds
    REQUEST_RATE = "request_rate"  # requests per second
    ISL = "isl"  # mean input sequence length, tokens
    OSL = "osl"  # mean output sequence length, tokens


@dataclass(frozen=True, slots=True)
class SignalValue:
    """A signal's value for a component at ``timestamp``.

    ``value`` is None when no source has produced it yet. ``stale`` is True when the source did not
    answer in the last interval: the value shown is the last one known, never a made-up zero.
    ``replica`` is set for per-replica values and None for the component aggregate.
    """

    component: str
    signal: Signal
    value: float | None
    timestamp: float
    stale: bool = False
    replica: str | None = None
    source: str | None = None

    def age(self, now: float) -> float:
        """Seconds since the value was observed."""
        return max(0.0, now - self.timestamp)
