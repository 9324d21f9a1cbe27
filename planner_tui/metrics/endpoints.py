"""Serving signals scraped from each replica's metrics endpoint, per replica and per component.

Each tick scrapes the ``metrics_url`` of every running or ready replica (plus any extra DCGM
endpoints), computes each signal of the component's role (gauges, counter rates, histogram
quantiles and means over windows) per replica, then the component's aggregate: a sum for queue
depth, in-flight, waiting and rates, a mean for KV usage and lengths, and for latencies a quantile of
the replicas' merged histograms. A replica whose endpoint does not answer (late, failed, or refused
for its size) keeps its last known values, marked stale (never shown as zero), and is reported in the
Snapshot's errors once it was ready. It is never absent: a replica with nothing known yet reports
every signal of its role with no value, stale; and a component aggregate any of whose replicas is
stale is stale too, so the planner never takes the replicas that answered for the whole component.

Each tick's scrape is bounded by the tick: every target is answered and parsed, or given up, within
``scrape_timeout_s`` (at most :data:`INTERVAL_SHARE` of the collector's interval), and within the
``max_body_bytes`` and ``max_series`` caps of ``[metrics]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from planner_tui.config.graph import GraphConfig
from planner_tui.config.planner_settings import MetricsSettings
from planner_tui.config.urls import redact_url
from planner_tui.metrics.dcgm import DCGM_FIELDS, gpus_from_samples
from planner_tui.metrics.exposition_layout import Parsed
from planner_tui.metrics.rates import HistogramPoint
from planner_tui.metrics.replica_reader import LayoutPlan, ReadPlan, ReplicaReader, ReplicaSeries
from planner_tui.metrics.scrape import Sample, Scraper
from planner_tui.metrics.signals import Kind, SignalSpec, component_specs
from planner_tui.metrics.sources import Source, SourceReport, TickContext
from planner_tui.model.components import ComponentState
from planner_tui.model.gpus import GpuSample
from planner_tui.model.replicas import Phase, ReplicaState
from planner_tui.model.signals import Signal, SignalValue

if TYPE_CHECKING:
    import httpx

SCRAPED_PHASES = (Phase.RUNNING, Phase.READY)
#: the share of the collector's interval a tick's scrape may take (the rest is for the connector and merging)
INTERVAL_SHARE = 0.7


def aggregate(
    spec: SignalSpec, component: str, values: list[SignalValue], increases: list[HistogramPoint]
) -> SignalValue | None:
    """The component-level value from its replicas' values (and histogram increases)."""
    known = [v for v in values if v.value is not None]
    if not known:
        return None
    total: float | None
    if spec.kind in (Kind.QUANTILE, Kind.MEAN) and increases:
        merged = HistogramPoint.merge(increases)
        total = merged.quantile(spec.quantile) if spec.kind is Kind.QUANTILE else merged.mean()
    else:
        numbers = [v.value for v in known if v.value is not None]
        total = sum(numbers) if spec.extensive else sum(numbers) / len(numbers)
    if total is None:
        return None
    return SignalValue(
        component=component,
        signal=spec.signal,
        value=total,
        timestamp=min(v.timestamp for v in known),
        stale=any(v.stale for v in values),  # a replica with no fresh value: the others are not the whole
        source=_sources(known),
        # one replica's value outside the domain makes the whole suspect (a mean could hide it)
        invalid=next((f"{v.replica or component}: {v.invalid}" for v in known if v.invalid is not None), None),
    )


def _sources(values: list[SignalValue]) -> str | None:
    """The replicas' sources: one when they agree, else each once (``a; b``), in replica order."""
    first = values[0].source
    if all(v.source == first for v in values):
        return first
    return "; ".join(dict.fromkeys(v.source for v in values if v.source))


class EndpointSignalSource(Source):
    """Serving signals and DCGM GPUs scraped from the replicas' own metrics endpoints."""

    name = "scrape"

    def __init__(
        self,
        settings: MetricsSettings | None = None,
        graph: GraphConfig | None = None,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings or (graph.metrics if graph else MetricsSettings())
        self.graph = graph
        self.scrape_timeout_s = self.settings.scrape_timeout_s
        self.fit_interval(self.settings.interval_s)
        self.reader = ReplicaReader(self.settings.rate_window_s, self.settings.latency_window_s)
        self._scraper = Scraper(
            client, max_body_bytes=self.settings.max_body_bytes, max_series=self.settings.max_series
        )
        self._series: dict[tuple[str, str], ReplicaSeries] = {}
        self._specs: dict[tuple[str, str], dict[Signal, SignalSpec]] = {}
        self._plans: dict[tuple[str, str], ReadPlan] = {}
        self._extra_gpus: dict[str, tuple[GpuSample, ...]] = {}
        self._wanted_key: tuple[tuple[str, str], ...] | None = None
        self._wanted_names: frozenset[str] = frozenset()

    def fit_interval(self, interval_s: float) -> None:
        """Bound each tick's scrape by the collector's interval (``scrape_timeout_s``, at most
        :data:`INTERVAL_SHARE` of it), so that a slow target never makes the whole source late."""
        self.scrape_timeout_s = min(self.settings.scrape_timeout_s, INTERVAL_SHARE * interval_s)
        self.timeout_s = self.scrape_timeout_s + 0.1

    def late_report(self, context: TickContext) -> SourceReport:
        """What to show when a whole tick's scrape is late: every scraped replica's last values, or
        placeholders, all stale (nothing is absent)."""
        values: list[SignalValue] = []
        for state in context.components.values():
            plan = self.plan_for(state)
            for replica in state.replicas:
                if replica.metrics_url and replica.phase in SCRAPED_PHASES:
                    series = self._series.get((state.name, replica.name), ReplicaSeries())
                    values.extend(_stale_values(plan, state.name, replica.name, series, context.now, self.name))
        return SourceReport(replica_signals=tuple(values))

    def specs_for(self, state: ComponentState) -> dict[Signal, SignalSpec]:
        """The component's signals (preset for its role, graph-file overrides applied)."""
        key = (state.name, state.spec.role)
        specs = self._specs.get(key)
        if specs is None:
            overrides = None
            if self.graph is not None and state.name in self.graph.components:
                overrides = self.graph.components[state.name].signals
            specs = component_specs(self.settings.preset, state.spec.role, overrides)
            # PromQL overrides are for the Prometheus query source; here only metric names count
            specs = {signal: spec for signal, spec in specs.items() if spec.promql is None}
            self._specs[key] = specs
        return specs

    def plan_for(self, state: ComponentState) -> ReadPlan:
        """How the component's signals are read from a replica's samples (made once per component)."""
        key = (state.name, state.spec.role)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = ReadPlan.of(self.specs_for(state), self.name)
        return plan

    async def collect(self, context: TickContext) -> SourceReport:
        """Scrape every target once and compute this tick's values."""
        targets: dict[str, tuple[ComponentState, ReplicaState]] = {}
        for state in context.components.values():
            for replica in state.replicas:
                if replica.metrics_url and replica.phase in SCRAPED_PHASES:
                    targets[replica.metrics_url] = (state, replica)
        urls = [*targets, *(u for u in self.settings.gpu_metrics_urls if u not in targets)]
        wanted = self._wanted(context)
        results = await self._scraper.scrape(urls, self.scrape_timeout_s, self.settings.max_concurrency, wanted)
        now = context.now
        errors: list[str] = []
        replica_values: list[SignalValue] = []
        gpus: list[GpuSample] = []
        per_component: dict[str, list[ReplicaSeries]] = {}
        seen: set[tuple[str, str]] = set()
        for url, result in results.items():
            target = targets.get(url)
            if target is None:  # an extra GPU endpoint
                if result.ok:
                    self._extra_gpus[url] = tuple(gpus_from_samples(result.samples, now))
                else:
                    errors.append(f"GPU metrics {redact_url(url)}: {result.error}")
                gpus.extend(self._extra_gpus.get(url, ()))
                continue
            state, replica = target
            key = (state.name, replica.name)
            seen.add(key)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = ReplicaSeries()
            if result.ok:
                self._read_replica(state, replica, result.parsed, series, now)
            else:
                plan = self.plan_for(state)
                stale = _stale_values(plan, state.name, replica.name, series, now, self.name)
                series.values = {value.signal: value for value in stale}
                if replica.phase is Phase.READY:
                    errors.append(f"{replica.name}: metrics {redact_url(url)}: {result.error}")
            gpus.extend(series.gpus)
            replica_values.extend(series.values.values())
            per_component.setdefault(state.name, []).append(series)
        for key in [k for k in self._series if k not in seen]:
            del self._series[key]  # the replica went away or stopped serving
        component_values = self._aggregates(context, per_component)
        return SourceReport(
            gpus=tuple(gpus) if gpus else None,
            signals=tuple(component_values),
            replica_signals=tuple(replica_values),
            errors=tuple(errors),
        )

    def _wanted(self, context: TickContext) -> frozenset[str]:
        """Every sample name a signal of this graph reads (histogram series included), plus DCGM's."""
        key = tuple(sorted((name, state.spec.role) for name, state in context.components.items()))
        if key != self._wanted_key:
            names: set[str] = set(DCGM_FIELDS)
            for state in context.components.values():
                for spec in self.specs_for(state).values():
                    for metric in spec.metrics:
                        names.update((metric, metric + "_bucket", metric + "_sum", metric + "_count"))
            self._wanted_key, self._wanted_names = key, frozenset(names)
        return self._wanted_names

    def _read_replica(
        self, state: ComponentState, replica: ReplicaState, parsed: Parsed, series: ReplicaSeries, now: float
    ) -> None:
        plan = self.plan_for(state)
        layout, values = parsed.layout, parsed.values
        resolved = None
        if layout is not None and values is not None and parsed.complete:
            cached = series.resolved
            if cached is None or cached[0] is not plan or cached[1] is not layout:
                cached = series.resolved = (plan, layout, LayoutPlan.of(plan, layout))
            resolved = cached[2]
        if resolved is not None:
            assert layout is not None and values is not None  # resolved only for a text read through its layout
            computed, increases, sources = self.reader.read_values(resolved, values, series, now)
            dcgm = [Sample(layout.names[i], layout.labels[i], values[i]) for i in resolved.dcgm]
        else:
            by_name = parsed.by_name()
            # A name with no sample has no series when the text holds no NaN (the parsers leave NaN
            # samples out), or when the layout, which names every series, NaN ones too, lacks it.
            names: frozenset[str] | None = None
            if parsed.nan_free:
                names = frozenset(by_name)
            elif layout is not None:
                names = frozenset(layout.names)
            computed, increases, sources = self.reader.read(plan, by_name, series, now, names)
            dcgm = [s for field in DCGM_FIELDS for s in by_name.get(field, ())]
        component_name, replica_name, source = state.name, replica.name, self.name
        series.values = {
            signal: SignalValue(
                component_name, signal, computed[signal], now, False, replica_name, sources.get(signal, source)
            )
            for signal in plan.order  # in the order of the specs
            if signal in computed
        }
        series.increases = increases
        series.gpus = tuple(gpus_from_samples(dcgm, now)) if dcgm else ()

    def _aggregates(self, context: TickContext, per_component: Mapping[str, list[ReplicaSeries]]) -> list[SignalValue]:
        out: list[SignalValue] = []
        for name, replicas in per_component.items():
            # p50, p95 and p99 of a histogram read the same increases: they are merged once
            merged: dict[tuple[int, ...], list[HistogramPoint]] = {}
            for signal, spec in self.specs_for(context.components[name]).items():
                values = [r.values[signal] for r in replicas if signal in r.values]
                increases = [r.increases[signal] for r in replicas if signal in r.increases]
                if len(increases) > 1:
                    key = tuple(map(id, increases))  # the very same objects (alive here): the same merge
                    if key not in merged:
                        merged[key] = [HistogramPoint.merge(increases)]
                    increases = merged[key]
                value = aggregate(spec, name, values, increases)
                if value is not None:
                    out.append(value)
        return out

    async def close(self) -> None:
        """Close the connections kept open between ticks."""
        await self._scraper.close()


def _stale_values(
    plan: ReadPlan, component: str, replica: str, series: ReplicaSeries, now: float, source: str
) -> list[SignalValue]:
    """Every signal of the replica's role, stale: its last known value, else no value (observed ``now``)."""
    out = []
    for signal in plan.order:
        known = series.values.get(signal)
        if known is None:
            out.append(SignalValue(component, signal, None, now, True, replica, source))
        else:
            out.append(known if known.stale else dataclasses.replace(known, stale=True))
    return out
