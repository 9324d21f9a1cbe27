"""Signal values: the serving metrics the planner and the dashboard read, with their freshness and validity."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from planner_tui.model.text import special_name


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


#: signals that add up across series and replicas (a component's value is the sum); the others (KV
#: usage, latencies, sequence lengths) are averaged
EXTENSIVE = frozenset({Signal.QUEUE_DEPTH, Signal.INFLIGHT, Signal.WAITING, Signal.REQUEST_RATE})

#: the largest value each bounded signal can take; every signal is a finite number >= 0.
#: KV usage is a fraction (vLLM's ``*_usage_perc`` gauges are fractions despite their name).
SIGNAL_MAXIMUM = MappingProxyType({Signal.KV_USAGE: 1.0})

#: signals with an upper bound (each bound is at least 1: values up to 1 need no look-up)
_BOUNDED = frozenset(SIGNAL_MAXIMUM)
_LARGEST = sys.float_info.max

#: slack for rounding (a mean of fractions can land one ulp above 1)
_SLACK = 1e-9


def domain_problem(signal: Signal, value: float | None) -> str | None:
    """Why ``value`` cannot be a reading of ``signal`` (``"not a finite number"``, ``"negative"``,
    ``"outside 0..1"``), or None when it can (None, "no value yet", is not a problem).

    Counts, queues, rates, latencies and lengths are finite and >= 0; KV usage is within 0..1.
    """
    if value is None:
        return None
    try:
        number = float(value)
    except OverflowError:
        return "not a finite number"
    except (TypeError, ValueError):
        return "not a number"
    if not math.isfinite(number):
        return "not a finite number"
    high = SIGNAL_MAXIMUM.get(signal)
    if high is not None and not -_SLACK <= number <= high + _SLACK:
        return f"outside 0..{high:g}"
    if number < 0:
        return "negative"
    return None


def format_value(value: float | None) -> str:
    """``0.95``, ``+Inf``, ``-Inf``, ``NaN`` or ``-`` (None): how a value is named in reasons and records."""
    if value is None:
        return "-"
    return special_name(value) or f"{value:g}"


@dataclass(frozen=True, slots=True)
class SignalValue:
    """A signal's value for a component at ``timestamp``.

    ``value`` is None when no source has produced it yet. ``stale`` is True when the source did not
    answer in the last interval: the value shown is the last one known, never a made-up zero.
    ``replica`` is set for per-replica values and None for the component aggregate.
    ``invalid`` is set (to the reason) when the value is outside the signal's domain (see
    :func:`domain_problem`): such a value is shown as invalid and never acted on. It is computed when
    the value is made, so every source's values are checked the same way.
    """

    component: str
    signal: Signal
    value: float | None
    timestamp: float
    stale: bool = False
    replica: str | None = None
    source: str | None = None
    invalid: str | None = None

    def __post_init__(self) -> None:
        value = self.value
        if self.invalid is not None or value is None:
            return
        try:  # the common cases, cheaply: thousands of values are made per tick (NaN fails every comparison)
            if 0.0 <= value <= _LARGEST and (value <= 1.0 or self.signal not in _BOUNDED):
                return
        except TypeError:
            pass
        problem = domain_problem(self.signal, value)
        if problem is not None:
            object.__setattr__(self, "invalid", problem)

    @property
    def valid(self) -> bool:
        """False when the value is outside the signal's domain (``invalid`` says why)."""
        return self.invalid is None

    def age(self, now: float) -> float:
        """Seconds since the value was observed."""
        return max(0.0, now - self.timestamp)

    def marks(self) -> str:
        """``""``, ``" (stale)"``, ``" (invalid: not a finite number)"``: what to print after the value."""
        out = ""
        if self.invalid is not None:
            out += f" (invalid: {self.invalid})"
        if self.stale:
            out += " (stale)"
        return out

    def describe(self) -> str:
        """``kv_usage=+Inf (decode-0): not a finite number`` style, for reasons and error lines."""
        where = f" ({self.replica})" if self.replica else ""
        text = f"{self.signal.value}={format_value(self.value)}{where}"
        return f"{text}: {self.invalid}" if self.invalid else text
