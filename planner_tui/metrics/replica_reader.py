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

A candidate may ask for series with given labels (``dynamo_component_inflight_requests`` of the
``generate`` endpoint only): the other series of that metric are left out, and a candidate none of
whose series match is absent. Each value says which series it came from (:data:`Sources`, the
Snapshot's ``SignalValue.source``).

A gauge or counter none of whose candidates the replica exposes reads **0**: the replica answered, and
Dynamo creates such series on first use (a frontend's ``dynamo_frontend_queued_requests``, a worker's
``vllm:*`` gauges appear with the first request), so an idle replica has none. Its source says
``absent``. A replica that did not answer is another matter: the endpoint source marks its values
stale. Histograms (latencies, sequence lengths) with no series give no value: no request, no latency.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from planner_tui.metrics.dcgm import DCGM_FIELDS
from planner_tui.metrics.exposition import Sample
from planner_tui.metrics.exposition_layout import Layout
from planner_tui.metrics.rates import CounterWindow, HistogramPoint, HistogramWindow, ordered_bounds
from planner_tui.metrics.signals import Kind, Labels, SignalSpec
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
#: a gauge's or counter's candidate: (metric, label matchers, the source text of a value read from it)
Candidate = tuple[str, Labels, str]
#: which series each value of a tick came from (``"scrape: vllm:num_requests_waiting"``)
Sources = dict[Signal, str]


def matching(samples: Sequence[Sample], labels: Labels) -> Sequence[Sample]:
    """The samples carrying every ``(label, value)`` of ``labels`` (all of them when there is none)."""
    if not labels:
        return samples
    return [s for s in samples if all(s.labels.get(label) == value for label, value in labels)]


def _absent_text(source: str, candidates: Sequence[Candidate]) -> str:
    names = " | ".join(text.split(": ", 1)[-1] for _, _, text in candidates)
    return f"{source}: {names} absent (0)"


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """How a component's signals are read from one replica's samples (see the module's docstring)."""

    order: tuple[Signal, ...]
    #: (signal, candidates, summed: True for extensive signals, else averaged)
    gauges: tuple[tuple[Signal, tuple[Candidate, ...], bool], ...]
    #: (signal, candidate counters)
    rates: tuple[tuple[Signal, tuple[Candidate, ...]], ...]
    #: (candidate histograms, (signal, quantile, or None for the mean) for each signal it gives)
    histograms: tuple[tuple[tuple[HistogramNames, ...], Members], ...]
    #: (signal, candidate names, source text) of the gauges and counters, for a replica that exposes
    #: none of their candidates
    absent: tuple[tuple[Signal, tuple[str, ...], str], ...] = ()
    #: each histogram's source text, by its base name
    histogram_sources: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, specs: Mapping[Signal, SignalSpec], source: str = "scrape") -> ReadPlan:
        """The plan for these specs (in their order); values name their series after ``source``."""
        gauges: list[tuple[Signal, tuple[Candidate, ...], bool]] = []
        rates: list[tuple[Signal, tuple[Candidate, ...]]] = []
        absent: list[tuple[Signal, tuple[str, ...], str]] = []
        histograms: dict[tuple[str, ...], list[tuple[Signal, float | None]]] = {}
        for signal, spec in specs.items():
            candidates = tuple((m, labels, f"{source}: {spec.series(m)}") for m, labels in spec.candidates())
            if spec.kind is Kind.GAUGE:
                gauges.append((signal, candidates, spec.extensive))
            elif spec.kind is Kind.RATE:
                rates.append((signal, candidates))
            else:
                quantile = spec.quantile if spec.kind is Kind.QUANTILE else None
                histograms.setdefault(spec.metrics, []).append((signal, quantile))
                continue
            if candidates:
                absent.append((signal, spec.metrics, _absent_text(source, candidates)))
        return cls(
            order=tuple(specs),
            gauges=tuple(gauges),
            rates=tuple(rates),
            histograms=tuple(
                (tuple((m, m + "_bucket", m + "_count", m + "_sum") for m in metrics), tuple(members))
                for metrics, members in histograms.items()
            ),
            absent=tuple(absent),
            histogram_sources={m: f"{source}: {m}" for metrics in histograms for m in metrics},
        )

    def fill_absent(self, values: dict[Signal, float], sources: Sources, names: Container[str] | None) -> None:
        """0 for each gauge and counter none of whose candidates is among ``names``, the sample names
        the text holds, NaN ones included (see the module's docstring). Nothing when ``names`` is None:
        the parse dropped NaN samples without saying which, so absence is not proven."""
        if names is None:
            return
        for signal, metrics, text in self.absent:
            if signal not in sources and not any(m in names for m in metrics):
                values[signal] = 0.0
                sources[signal] = text


class ReplicaReader:
    """Computes a replica's signal values from its samples, keeping the windows rates and quantiles need."""

    def __init__(self, rate_window_s: float, latency_window_s: float) -> None:
        self.rate_window_s = rate_window_s
        self.latency_window_s = latency_window_s

    def read(
        self,
        plan: ReadPlan,
        by_name: Mapping[str, Sequence[Sample]],
        series: ReplicaSeries,
        now: float,
        present: Container[str] | None = None,
    ) -> tuple[dict[Signal, float], dict[Signal, HistogramPoint], Sources]:
        """This tick's values (signals not computable yet are left out), each histogram signal's
        increase, and each value's source (the series it came from).

        ``present``: every sample name of the text, NaN samples included (the layout's names), when
        known; gauges and counters none of whose candidates is there read 0 (see the module's docstring).
        """
        values: dict[Signal, float] = {}
        increases: dict[Signal, HistogramPoint] = {}
        sources: Sources = {}
        get = by_name.get
        for signal, candidates, summed in plan.gauges:
            for metric, labels, text in candidates:
                samples = get(metric)
                if samples and labels:
                    samples = matching(samples, labels)
                if samples:
                    total = sum([s.value for s in samples])
                    values[signal] = total if summed else total / len(samples)
                    sources[signal] = text
                    break
        for signal, candidates in plan.rates:
            for metric, labels, text in candidates:
                samples = get(metric)
                if samples and labels:
                    samples = matching(samples, labels)
                if samples:
                    rate = self._rate(series, text, sum([s.value for s in samples]), now)
                    sources[signal] = text  # present: a counter seen once has no rate yet, but is not absent
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
                    _give(members, increase, values, increases, sources, plan.histogram_sources.get(base, base))
                    break
        plan.fill_absent(values, sources, present)
        return values, increases, sources

    def read_values(
        self, plan: LayoutPlan, values: Sequence[float], series: ReplicaSeries, now: float
    ) -> tuple[dict[Signal, float], dict[Signal, HistogramPoint], Sources]:
        """:meth:`read` for a text read through a layout: ``values`` in the layout's order, none NaN."""
        out: dict[Signal, float] = {}
        increases: dict[Signal, HistogramPoint] = {}
        sources: Sources = {}
        for signal, take, summed, text in plan.gauges:
            taken = take(values)
            total = sum(taken)
            out[signal] = total if summed else total / len(taken)
            sources[signal] = text
        for signal, key, take in plan.rates:
            rate = self._rate(series, key, sum(take(values)), now)
            sources[signal] = key
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
            _give(members, increase, out, increases, sources, plan.plan.histogram_sources.get(base, base))
        plan.plan.fill_absent(out, sources, plan.names)  # a complete layout: no NaN hides a series
        return out, increases, sources

    def _rate(self, series: ReplicaSeries, key: str, total: float, now: float) -> float | None:
        """The counter's rate once ``total`` (its value now, summed over the series ``key`` names) is recorded."""
        window = series.counters.get(key)
        if window is None:
            window = series.counters[key] = CounterWindow(self.rate_window_s)
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
    sources: Sources,
    source: str,
) -> None:
    """Each signal a histogram gives (a quantile or the mean) from its increase over the window."""
    if increase is None:
        return
    for signal, quantile in members:
        increases[signal] = increase
        value = increase.mean() if quantile is None else increase.quantile(quantile)
        if value is not None:
            values[signal] = value
            sources[signal] = source


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

    #: the plan it resolves
    plan: ReadPlan
    #: (signal, positions of its samples, summed, source text)
    gauges: tuple[tuple[Signal, Positions, bool, str], ...]
    #: (signal, source text (also the counter's window key), positions of its samples)
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
    #: every sample name of the layout
    names: frozenset[str] = frozenset()

    @classmethod
    def of(cls, plan: ReadPlan, layout: Layout) -> LayoutPlan | None:
        """The plan for this layout, or None when a histogram's buckets are not one ordered series."""
        where: dict[str, list[int]] = {}
        for index, name in enumerate(layout.names):
            where.setdefault(name, []).append(index)
        labels_of = layout.labels

        def first(candidates: tuple[Candidate, ...]) -> tuple[list[int], str] | None:
            for metric, labels, text in candidates:
                found = where.get(metric)
                if found and labels:
                    found = [i for i in found if all(labels_of[i].get(k) == v for k, v in labels)]
                if found:
                    return found, text
            return None

        gauges = []
        for signal, candidates, summed in plan.gauges:
            hit = first(candidates)
            if hit is not None:
                gauges.append((signal, _positions(hit[0]), summed, hit[1]))
        rates = []
        for signal, candidates in plan.rates:
            hit = first(candidates)
            if hit is not None:
                rates.append((signal, hit[1], _positions(hit[0])))
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
        return cls(plan, tuple(gauges), tuple(rates), tuple(histograms), dcgm, frozenset(where))
