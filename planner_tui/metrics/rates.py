"""Counters as per-second rates and histograms as quantiles/means, over a sliding time window.

Both follow Prometheus' semantics: a counter that goes down was reset (the process restarted), so
the increase counts from zero; ``histogram_quantile`` interpolates linearly inside the bucket that
holds the quantile, and answers the highest finite bound when it falls into the ``+Inf`` bucket.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import lt, sub

from planner_tui.metrics.scrape import Sample

_BOUNDS: dict[str, float] = {}  # "le" label text -> bound (the same few strings every scrape)


_BOUND_SETS: dict[tuple[float, ...], tuple[float, ...]] = {}  # one tuple per set of bounds (compared by identity)


def _bound_set(bounds: tuple[float, ...]) -> tuple[float, ...]:
    """The shared tuple equal to ``bounds``: the same few bucket layouts come back every scrape."""
    shared = _BOUND_SETS.get(bounds)
    if shared is None:
        if len(_BOUND_SETS) >= 1024:
            _BOUND_SETS.clear()
        shared = _BOUND_SETS[bounds] = bounds
    return shared


def _bound(text: str) -> float:
    bound = _BOUNDS.get(text)
    if bound is None:
        bound = float(text)
        if len(_BOUNDS) < 4096:
            _BOUNDS[text] = bound
    return bound


_LABEL_BOUNDS: dict[int, tuple[tuple[Mapping[str, str], ...], tuple[float, ...] | None]] = {}


def ordered_bounds(labels: tuple[Mapping[str, str], ...]) -> tuple[float, ...] | None:
    """The shared bounds of buckets with these label sets when strictly increasing (one series, in
    order), else None. Remembered per label sets: a target's layout hands the same ones every scrape."""
    cached = _LABEL_BOUNDS.get(id(labels[0]))
    if cached is not None and cached[0] == labels:  # identical dicts compare by identity: cheap
        return cached[1]
    parsed = tuple([_bound(item.get("le", "+Inf")) for item in labels])
    bounds = _bound_set(parsed) if all(map(lt, parsed, parsed[1:])) else None
    if len(_LABEL_BOUNDS) >= 4096:
        _LABEL_BOUNDS.clear()
    _LABEL_BOUNDS[id(labels[0])] = (labels, bounds)  # holds the dicts: their ids are not reused meanwhile
    return bounds


@dataclass(slots=True)
class HistogramPoint:
    """A histogram's cumulative state: sorted upper ``bounds`` with their cumulative ``counts``, sum, count.

    Treat as immutable (points are shared between windows, replicas and merges). Not declared frozen
    only because a frozen dataclass takes five times longer to make, and a tick makes hundreds.
    """

    bounds: tuple[float, ...]
    counts: tuple[float, ...]
    sum: float
    count: float

    @classmethod
    def from_buckets(cls, buckets: Iterable[tuple[float, float]], total: float, count: float) -> HistogramPoint:
        """A point from (upper bound, cumulative count) pairs in any order."""
        ordered = sorted(buckets)
        return cls(_bound_set(tuple(b for b, _ in ordered)), tuple(c for _, c in ordered), total, count)

    @property
    def buckets(self) -> tuple[tuple[float, float], ...]:
        """(upper bound, cumulative count) pairs, sorted by bound."""
        return tuple(zip(self.bounds, self.counts, strict=True))

    @classmethod
    def from_samples(cls, by_name: Mapping[str, Sequence[Sample]], base: str) -> HistogramPoint | None:
        """The histogram ``base`` from samples indexed by name (``_bucket``/``_sum``/``_count``,
        summed across their other labels), or None when the histogram is not there."""
        return cls.from_series(by_name.get(base + "_bucket"), by_name.get(base + "_sum"), by_name.get(base + "_count"))

    @classmethod
    def from_series(
        cls,
        bucket_samples: Sequence[Sample] | None,
        sum_samples: Sequence[Sample] | None,
        count_samples: Sequence[Sample] | None,
    ) -> HistogramPoint | None:
        """The histogram from its ``_bucket``, ``_sum`` and ``_count`` samples (None without any)."""
        if not bucket_samples and not count_samples:
            return None
        total = sum([sample.value for sample in sum_samples]) if sum_samples else 0
        count = sum([sample.value for sample in count_samples]) if count_samples else 0
        if not bucket_samples:
            return cls((), (), total, count)
        bounds = ordered_bounds(tuple([sample.labels for sample in bucket_samples]))
        if bounds is not None:  # one series, in order: the usual exposition
            return cls(bounds, tuple([sample.value for sample in bucket_samples]), total, count)
        buckets: dict[float, float] = {}
        for sample in bucket_samples:
            bound = _bound(sample.labels.get("le", "+Inf"))
            buckets[bound] = buckets.get(bound, 0.0) + sample.value
        return cls.from_buckets(buckets.items(), total, count)

    def minus(self, older: HistogramPoint) -> HistogramPoint:
        """The increase since ``older``; after a reset (fewer observations) the whole of ``self``."""
        if self.count < older.count:
            return self
        if self.bounds is older.bounds:
            counts = tuple(map(max, repeat(0.0), map(sub, self.counts, older.counts)))
        else:
            before = dict(zip(older.bounds, older.counts, strict=True))
            counts = tuple([max(0.0, c - before.get(b, 0.0)) for b, c in zip(self.bounds, self.counts, strict=True)])
        return HistogramPoint(self.bounds, counts, max(0.0, self.sum - older.sum), self.count - older.count)

    def plus(self, other: HistogramPoint) -> HistogramPoint:
        """Two histograms merged (e.g. two replicas' increases), bucket by bucket."""
        merged = dict(zip(self.bounds, self.counts, strict=True))
        for bound, count in zip(other.bounds, other.counts, strict=True):
            merged[bound] = merged.get(bound, 0.0) + count
        return HistogramPoint.from_buckets(merged.items(), self.sum + other.sum, self.count + other.count)

    @staticmethod
    def merge(points: Sequence[HistogramPoint]) -> HistogramPoint:
        """``points[0].plus(points[1]).plus(...)`` in one pass (the same sums, in the same order)."""
        first = points[0]
        if len(points) == 1:
            return first
        total, count = first.sum, first.count
        for point in points[1:]:
            total += point.sum
            count += point.count
        bounds = first.bounds
        if all(point.bounds is bounds for point in points):
            return HistogramPoint(bounds, tuple(map(sum, zip(*(p.counts for p in points), strict=True))), total, count)
        merged = dict(zip(bounds, first.counts, strict=True))
        for point in points[1:]:
            for bound, value in zip(point.bounds, point.counts, strict=True):
                merged[bound] = merged.get(bound, 0.0) + value
        return HistogramPoint.from_buckets(merged.items(), total, count)

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile of the observations, or None without any."""
        return _quantile(q, self.bounds, self.counts)

    def mean(self) -> float | None:
        """Mean observation (sum / count), or None without any."""
        return self.sum / self.count if self.count > 0 else None


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative (upper bound, count) buckets, sorted by bound."""
    return _quantile(q, tuple(b for b, _ in buckets), tuple(c for _, c in buckets))


def _quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float | None:
    if not bounds or not 0 <= q <= 1:
        return None
    total = counts[-1]
    if total <= 0 or not math.isinf(bounds[-1]):
        return None  # no observations, or no +Inf bucket (malformed)
    rank = q * total
    # the first bucket holding the rank: found by bisection when the counts before it are all below
    # the rank (cumulative counts always are), else by a scan, which is what the definition says
    index = bisect_left(counts, rank)
    if index >= len(counts) or counts[index] < rank or (index and max(counts[:index]) >= rank):
        index = next((i for i, count in enumerate(counts) if count >= rank), len(counts))
        if index == len(counts):
            return None
    bound, count = bounds[index], counts[index]
    lower_bound, lower_count = (bounds[index - 1], counts[index - 1]) if index else (0.0, 0.0)
    if math.isinf(bound):
        # above every finite bucket: the highest finite bound is the best answer
        return lower_bound if len(bounds) > 1 else None
    if bound <= 0 or count == lower_count:
        return bound
    # linear inside the bucket; min() keeps float rounding from crossing its upper bound
    return min(bound, lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count))


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

    A reset (fewer observations than before) restarts the window at the reset. States are kept as
    plain tuples of numbers, which the garbage collector stops tracking: a long run holds a minute
    of them per replica and histogram without making every full collection walk them.
    """

    __slots__ = ("points", "window_s")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        # (timestamp, bounds, counts, sum, count)
        self.points: deque[tuple[float, tuple[float, ...], tuple[float, ...], float, float]] = deque()

    def add(self, timestamp: float, point: HistogramPoint) -> None:
        """Record the histogram at ``timestamp`` and forget states older than the window."""
        if self.points and point.count < self.points[-1][4]:
            self.points.clear()
        self.points.append((timestamp, point.bounds, point.counts, point.sum, point.count))
        while len(self.points) > 2 and self.points[1][0] <= timestamp - self.window_s:
            self.points.popleft()

    def increase(self) -> HistogramPoint | None:
        """Observations made during the window, None before two states are known."""
        if len(self.points) < 2:
            return None
        _, bounds, counts, total, count = self.points[-1]
        _, old_bounds, old_counts, old_total, old_count = self.points[0]
        if bounds is old_bounds and count >= old_count:  # the usual case, without the points in between
            increases = tuple(map(max, repeat(0.0), map(sub, counts, old_counts)))
            return HistogramPoint(bounds, increases, max(0.0, total - old_total), count - old_count)
        newest = HistogramPoint(bounds, counts, total, count)
        return newest.minus(HistogramPoint(old_bounds, old_counts, old_total, old_count))
