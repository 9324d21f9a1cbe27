"""Counters as per-second rates and histograms as quantiles/means, over a sliding time window.

Both follow Prometheus' semantics: a counter that goes down was reset (the process restarted), so
the increase counts from zero; ``histogram_quantile`` interpolates linearly inside the bucket that
holds the quantile, and answers the highest finite bound when it falls into the ``+Inf`` bucket.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner_tui.metrics.scrape import Sample

_BOUNDS: dict[str, float] = {}  # "le" label text -> bound (the same few strings every scrape)


@dataclass(frozen=True, slots=True)
class HistogramPoint:
    """A histogram's cumulative state: ``buckets`` as (upper bound, cumulative count), sum, count."""

    buckets: tuple[tuple[float, float], ...]
    sum: float
    count: float

    @classmethod
    def from_samples(cls, by_name: Mapping[str, Sequence[Sample]], base: str) -> HistogramPoint | None:
        """The histogram ``base`` from samples indexed by name (``_bucket``/``_sum``/``_count``,
        summed across their other labels), or None when the histogram is not there."""
        bucket_samples = by_name.get(base + "_bucket")
        count_samples = by_name.get(base + "_count")
        if not bucket_samples and not count_samples:
            return None
        buckets: dict[float, float] = {}
        for sample in bucket_samples or ():
            text = sample.labels.get("le", "+Inf")
            bound = _BOUNDS.get(text)
            if bound is None:
                bound = float(text)
                if len(_BOUNDS) < 4096:
                    _BOUNDS[text] = bound
            buckets[bound] = buckets.get(bound, 0.0) + sample.value
        total = sum(sample.value for sample in by_name.get(base + "_sum", ()))
        count = sum(sample.value for sample in count_samples or ())
        return cls(tuple(sorted(buckets.items())), total, count)

    def minus(self, older: HistogramPoint) -> HistogramPoint:
        """The increase since ``older``; after a reset (fewer observations) the whole of ``self``."""
        if self.count < older.count:
            return self
        before = dict(older.buckets)
        buckets = tuple([(bound, max(0.0, count - before.get(bound, 0.0))) for bound, count in self.buckets])
        return HistogramPoint(buckets, max(0.0, self.sum - older.sum), self.count - older.count)

    def plus(self, other: HistogramPoint) -> HistogramPoint:
        """Two histograms merged (e.g. two replicas' increases), bucket by bucket."""
        merged = dict(self.buckets)
        for bound, count in other.buckets:
            merged[bound] = merged.get(bound, 0.0) + count
        return HistogramPoint(tuple(sorted(merged.items())), self.sum + other.sum, self.count + other.count)

    @staticmethod
    def merge(points: Sequence[HistogramPoint]) -> HistogramPoint:
        """``points[0].plus(points[1]).plus(...)`` in one pass (the same sums, in the same order)."""
        first = points[0]
        if len(points) == 1:
            return first
        merged = dict(first.buckets)
        total, count = first.sum, first.count
        for point in points[1:]:
            for bound, value in point.buckets:
                merged[bound] = merged.get(bound, 0.0) + value
            total += point.sum
            count += point.count
        return HistogramPoint(tuple(sorted(merged.items())), total, count)

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile of the observations, or None without any."""
        return histogram_quantile(q, self.buckets)

    def mean(self) -> float | None:
        """Mean observation (sum / count), or None without any."""
        return self.sum / self.count if self.count > 0 else None


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative (upper bound, count) buckets, sorted by bound."""
    if not buckets or not 0 <= q <= 1:
        return None
    total = buckets[-1][1]
    if total <= 0 or not math.isinf(buckets[-1][0]):
        return None  # no observations, or no +Inf bucket (malformed)
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                # above every finite bucket: the highest finite bound is the best answer
                return lower_bound if len(buckets) > 1 else None
            if bound <= 0 or count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return None


class CounterWindow:
    """A counter's recent values; :meth:`rate` is its per-second increase over the window.

    Values are stored with resets folded in (an offset grows by the value before each reset), so
    the increase over the window is one subtraction.
    """

    __slots__ = ("last_raw", "offset", "points", "window_s")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.points: deque[tuple[float, float]] = deque()
        self.offset = 0.0
        self.last_raw: float | None = None

    def add(self, timestamp: float, value: float) -> None:
        """Record the counter's value at ``timestamp`` and forget values older than the window."""
        if self.last_raw is not None and value < self.last_raw:
            self.offset += self.last_raw  # reset: the process restarted and counts from zero
        self.last_raw = value
        self.points.append((timestamp, value + self.offset))
        # keep one point at or before the window's start, so the rate spans the whole window
        while len(self.points) > 2 and self.points[1][0] <= timestamp - self.window_s:
            self.points.popleft()

    def rate(self) -> float | None:
        """Per-second increase over the window, None with under two points."""
        if len(self.points) < 2:
            return None
        (first_t, first_v), (last_t, last_v) = self.points[0], self.points[-1]
        return (last_v - first_v) / (last_t - first_t) if last_t > first_t else None


class HistogramWindow:
    """A histogram's recent cumulative states; :meth:`increase` is what was observed in the window.

    A reset (fewer observations than before) restarts the window at the reset.
    """

    __slots__ = ("points", "window_s")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.points: deque[tuple[float, HistogramPoint]] = deque()

    def add(self, timestamp: float, point: HistogramPoint) -> None:
        """Record the histogram at ``timestamp`` and forget states older than the window."""
        if self.points and point.count < self.points[-1][1].count:
            self.points.clear()
        self.points.append((timestamp, point))
        while len(self.points) > 2 and self.points[1][0] <= timestamp - self.window_s:
            self.points.popleft()

    def increase(self) -> HistogramPoint | None:
        """Observations made during the window, None before two states are known."""
        if len(self.points) < 2:
            return None
        return self.points[-1][1].minus(self.points[0][1])
