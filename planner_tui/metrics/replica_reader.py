"""Reading one replica's signals from its scraped samples, tick after tick.

A component's signal specs are turned once into a :class:`ReadPlan`: its gauges, its counter rates
and its histograms, each histogram with the signals it gives (p50, p95, p99 and a mean share one
histogram, its window and its increase). Each tick then walks the plan: the first candidate metric
present is read, counters and histograms are added to the replica's windows, and every value comes
out in the order of the specs.

When the replica's text was read through its layout (the same series as last time, see
:mod:`~planner_tui.metrics.exposition_layout`), the plan is resolved against that layout once
(:class:`LayoutPlan`: which positions of the layout's values each signal reads) and each tick reads
the values by position, without making samples. Both ways give the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from planner_tui.metrics.dcgm import DCGM_FIELDS
from planner_tui.metrics.exposition import Sample
from planner_tui.metrics.exposition_layout import Layout
from planner_tui.metrics.rates import CounterWindow, HistogramPoint, HistogramWindow, ordered_bounds
from planner_tui.metrics.signals import Kind, SignalSpec
from planner_tui.model.gpus import GpuSample
from planner_tui.model.signals import Signal, SignalValue


@dataclass(slots=True)
class ReplicaSeries:
    """What is remembered of one replica between ticks: windows and last known values."""

    counters: dict[str, CounterWindow] = field(default_factory=dict)
    histograms: dict[str, HistogramWindow] = field(default_factory=dict)
    values: dict[Signal, SignalValue] = field(default_factory=dict)
    increases: dict[Signal, HistogramPoint] = field(default_factory=dict)
    gpus: tuple[GpuSample, ...] = ()
    #: the plan resolved against the replica's last layout: (plan, layout, resolved or None if it cannot be)
    resolved: tuple[ReadPlan, Layout, LayoutPlan | None] | None = None


#: the signals a histogram gives: (signal, quantile, or None for the mean)
Members = tuple[tuple[Signal, float | None], ...]
#: a histogram's candidate names: (base, base_bucket, base_count, base_sum)
HistogramNames = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """How a component's signals are read from one replica's samples (see the module's docstring)."""

    order: tuple[Signal, ...]
    #: (signal, candidate metrics, summed: True for extensive signals, else averaged)
    gauges: tuple[tuple[Signal, tuple[str, ...], bool], ...]
    #: (signal, candidate counters)
    rates: tuple[tuple[Signal, tuple[str, ...]], ...]
    #: (candidate histograms, (signal, quantile, or None for the mean) for each signal it gives)
    histograms: tuple[tuple[tuple[HistogramNames, ...], Members], ...]

    @classmethod
    def of(cls, specs: Mapping[Signal, SignalSpec]) -> ReadPlan:
        """The plan for these specs (in their order)."""
        gauges: list[tuple[Signal, tuple[str, ...], bool]] = []
        rates: list[tuple[Signal, tuple[str, ...]]] = []
        histograms: dict[tuple[str, ...], list[tuple[Signal, float | None]]] = {}
        for signal, spec in specs.items():
            if spec.kind is Kind.GAUGE:
                gauges.append((signal, spec.metrics, spec.extensive))
            elif spec.kind is Kind.RATE:
                rates.append((signal, spec.metrics))
            else:
                quantile = spec.quantile if spec.kind is Kind.QUANTILE else None
                histograms.setdefault(spec.metrics, []).append((signal, quantile))
        return cls(
            order=tuple(specs),
            gauges=tuple(gauges),
            rates=tuple(rates),
            histograms=tuple(
                (tuple((m, m + "_bucket", m + "_count", m + "_sum") for m in metrics), tuple(members))
                for metrics, members in histograms.items()
            ),
        )


class ReplicaReader:
    """Computes a replica's signal values from its samples, keeping the windows rates and quantiles need."""

    def __init__(self, rate_window_s: float, latency_window_s: float) -> None:
        self.rate_window_s = rate_window_s
        self.latency_window_s = latency_window_s

    def read(
        self, plan: ReadPlan, by_name: Mapping[str, Sequence[Sample]], series: ReplicaSeries, now: float
    ) -> tuple[dict[Signal, float], dict[Signal, HistogramPoint]]:
        """This tick's values (signals not computable yet are left out) and each histogram signal's increase."""
        values: dict[Signal, float] = {}
        increases: dict[Signal, HistogramPoint] = {}
        get = by_name.get
        for signal, candidates, summed in plan.gauges:
            for metric in candidates:
                samples = get(metric)
                if samples:
                    total = sum([s.value for s in samples])
                    values[signal] = total if summed else total / len(samples)
                    break
        for signal, candidates in plan.rates:
            for metric in candidates:
                samples = get(metric)
                if samples:
                    rate = self._rate(series, metric, sum([s.value for s in samples]), now)
                    if rate is not None:
                        values[signal] = rate
                    break
        read_now: dict[str, HistogramPoint | None] = {}  # two groups naming one histogram read it once
        for names, members in plan.histograms:
            for base, bucket_name, count_name, sum_name in names:
                buckets, counts = get(bucket_name), get(count_name)
                if counts or buckets:
                    if base in read_now:
                        increase = read_now[base]
                    else:
                        increase = self._increase(
                            base, HistogramPoint.from_series(buckets, get(sum_name), counts), series, now
                        )
                    read_now[base] = increase
                    _give(members, increase, values, increases)
                    break
        return values, increases

    def read_values(
        self, plan: LayoutPlan, values: Sequence[float], series: ReplicaSeries, now: float
    ) -> tuple[dict[Signal, float], dict[Signal, HistogramPoint]]:
        """:meth:`read` for a text read through a layout: ``values`` in the layout's order, none NaN."""
        out: dict[Signal, float] = {}
        increases: dict[Signal, HistogramPoint] = {}
        for signal, take, summed in plan.gauges:
            taken = take(values)
            total = sum(taken)
            out[signal] = total if summed else total / len(taken)
        for signal, metric, take in plan.rates:
            rate = self._rate(series, metric, sum(take(values)), now)
            if rate is not None:
                out[signal] = rate
        read_now: dict[str, HistogramPoint | None] = {}
        for base, bounds, buckets, sums, counts, members in plan.histograms:
            if base in read_now:
                increase = read_now[base]
            else:
                point = HistogramPoint(
                    bounds,
                    buckets(values) if buckets is not None else (),
                    sum(sums(values)) if sums is not None else 0,
                    sum(counts(values)) if counts is not None else 0,
                )
                increase = read_now[base] = self._increase(base, point, series, now)
            _give(members, increase, out, increases)
        return out, increases

    def _rate(self, series: ReplicaSeries, metric: str, total: float, now: float) -> float | None:
        """The counter's rate once ``total`` (its value now, summed over its series) is recorded."""
        window = series.counters.get(metric)
        if window is None:
            window = series.counters[metric] = CounterWindow(self.rate_window_s)
        if not window.points or window.points[-1][0] != now:
            window.add(now, total)
        return window.rate()

    def _increase(
        self, base: str, point: HistogramPoint | None, series: ReplicaSeries, now: float
    ) -> HistogramPoint | None:
        if point is None:
            return None
        window = series.histograms.get(base)
        if window is None:
            window = series.histograms[base] = HistogramWindow(self.latency_window_s)
        window.add(now, point)
        return window.increase()


def _give(
    members: Members,
    increase: HistogramPoint | None,
    values: dict[Signal, float],
    increases: dict[Signal, HistogramPoint],
) -> None:
    """Each signal a histogram gives (a quantile or the mean) from its increase over the window."""
    if increase is None:
        return
    for signal, quantile in members:
        increases[signal] = increase
        value = increase.mean() if quantile is None else increase.quantile(quantile)
        if value is not None:
            values[signal] = value


Positions = Callable[[Sequence[float]], tuple[float, ...]]


def _positions(indices: Sequence[int]) -> Positions:
    """A function taking these positions of a value list, as a tuple (one C call)."""
    if len(indices) == 1:
        only = indices[0]
        return lambda values: (values[only],)
    return itemgetter(*indices)


@dataclass(frozen=True, slots=True)
class LayoutPlan:
    """A :class:`ReadPlan` resolved against one layout: the positions each signal reads."""

    #: (signal, positions of its samples, summed)
    gauges: tuple[tuple[Signal, Positions, bool], ...]
    #: (signal, counter name, positions of its samples)
    rates: tuple[tuple[Signal, str, Positions], ...]
    #: (base, bounds, buckets, sums or None, counts or None, the signals it gives)
    histograms: tuple[
        tuple[
            str,
            tuple[float, ...],
            Positions | None,
            Positions | None,
            Positions | None,
            tuple[tuple[Signal, float | None], ...],
        ],
        ...,
    ]
    #: positions of the DCGM GPU samples, in the order the sample path reads them
    dcgm: tuple[int, ...]

    @classmethod
    def of(cls, plan: ReadPlan, layout: Layout) -> LayoutPlan | None:
        """The plan for this layout, or None when a histogram's buckets are not one ordered series."""
        where: dict[str, list[int]] = {}
        for index, name in enumerate(layout.names):
            where.setdefault(name, []).append(index)
        gauges = tuple(
            (signal, _positions(where[metric]), summed)
            for signal, candidates, summed in plan.gauges
            for metric in next(([m] for m in candidates if m in where), [])
        )
        rates = tuple(
            (signal, metric, _positions(where[metric]))
            for signal, candidates in plan.rates
            for metric in next(([m] for m in candidates if m in where), [])
        )
        histograms = []
        for names, members in plan.histograms:
            for base, bucket_name, count_name, sum_name in names:
                if count_name in where or bucket_name in where:
                    buckets = where.get(bucket_name, [])
                    bounds: tuple[float, ...] = ()
                    if buckets:
                        found = ordered_bounds(tuple(layout.labels[i] for i in buckets))
                        if found is None:
                            return None  # several series to add up per bound: the sample path does it
                        bounds = found
                    histograms.append(
                        (
                            base,
                            bounds,
                            _positions(buckets) if buckets else None,
                            _positions(where[sum_name]) if sum_name in where else None,
                            _positions(where[count_name]) if count_name in where else None,
                            members,
                        )
                    )
                    break
        dcgm = tuple(i for name in DCGM_FIELDS for i in where.get(name, ()))
        return cls(gauges, rates, tuple(histograms), dcgm)
