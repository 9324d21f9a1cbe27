"""Reading one replica's signals from its scraped samples, tick after tick.

A component's signal specs are turned once into a :class:`ReadPlan`: its gauges, its counter rates
and its histograms, each histogram with the signals it gives (p50, p95, p99 and a mean share one
histogram, its window and its increase). Each tick then walks the plan: the first candidate metric
present is read, counters and histograms are added to the replica's windows, and every value comes
out in the order of the specs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from planner_tui.metrics.exposition import Sample
from planner_tui.metrics.rates import CounterWindow, HistogramPoint, HistogramWindow
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
    histograms: tuple[tuple[tuple[HistogramNames, ...], tuple[tuple[Signal, float | None], ...]], ...]

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
                    window = series.counters.get(metric)
                    if window is None:
                        window = series.counters[metric] = CounterWindow(self.rate_window_s)
                    if not window.points or window.points[-1][0] != now:
                        window.add(now, sum([s.value for s in samples]))
                    rate = window.rate()
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
                    if increase is not None:
                        for signal, quantile in members:
                            increases[signal] = increase
                            value = increase.mean() if quantile is None else increase.quantile(quantile)
                            if value is not None:
                                values[signal] = value
                    break
        return values, increases

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
