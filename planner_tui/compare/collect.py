"""Snapshots of a virtual graph, made the way the collector makes them from a live one.

Each collector tick, every running or ready replica's metric families (what its ``/metrics`` serves, from
:mod:`planner_tui.sim.replica_metrics`) become exposition samples; the metrics area's own reader
(:class:`~planner_tui.metrics.replica_reader.ReplicaReader`: gauges, counter rates over
``rate_window_s``, histogram quantiles over ``latency_window_s``) turns them into per-replica signal
values under the graph's signal preset, and :func:`~planner_tui.metrics.endpoints.aggregate` into the
component's. Only the HTTP fetch and the text parse are skipped: the samples are the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client.core import Metric

from planner_tui.config.graph import GraphConfig
from planner_tui.metrics.dcgm import gpus_from_samples
from planner_tui.metrics.endpoints import aggregate
from planner_tui.metrics.exposition import Sample
from planner_tui.metrics.rates import HistogramPoint
from planner_tui.metrics.replica_reader import ReadPlan, ReplicaReader, ReplicaSeries
from planner_tui.metrics.signals import SignalSpec, component_specs
from planner_tui.model.components import ComponentSpec, ComponentState, Role
from planner_tui.model.gpus import GpuSample
from planner_tui.model.replicas import Phase, ReplicaState
from planner_tui.model.signals import Signal, SignalValue
from planner_tui.model.snapshot import Snapshot
from planner_tui.sim.virtual import ReplicaPhase, VirtualGraph, VirtualReplica

SOURCE = "scrape"
_PHASES = {
    ReplicaPhase.STARTING: Phase.STARTING,
    ReplicaPhase.RUNNING: Phase.RUNNING,
    ReplicaPhase.READY: Phase.READY,
    ReplicaPhase.STOPPING: Phase.STOPPING,
}
_SCRAPED = (ReplicaPhase.RUNNING, ReplicaPhase.READY)


def samples_of(families: Iterable[Metric]) -> dict[str, list[Sample]]:
    """Exposition samples by name (``foo_total``, ``foo_bucket`` ...), as a parsed scrape gives them."""
    by_name: dict[str, list[Sample]] = {}
    for family in families:
        for sample in family.samples:
            by_name.setdefault(sample.name, []).append(Sample(sample.name, sample.labels, float(sample.value)))
    return by_name


class VirtualCollector:
    """Makes one Snapshot per tick of a :class:`VirtualGraph` (component states, signals, GPUs)."""

    def __init__(self, graph: GraphConfig, *, epoch: float, with_gpus: bool = False) -> None:
        self.graph = graph
        self.epoch = epoch  # the Unix time of simulated time 0
        self.with_gpus = with_gpus
        settings = graph.metrics
        self.reader = ReplicaReader(settings.rate_window_s, settings.latency_window_s)
        self.specs: dict[str, dict[Signal, SignalSpec]] = {}
        self.plans: dict[str, ReadPlan] = {}
        self.component_specs: dict[str, ComponentSpec] = {}
        for name, component in graph.components.items():
            specs = component_specs(settings.preset, component.role.value, component.signals)
            self.specs[name] = {signal: spec for signal, spec in specs.items() if spec.promql is None}
            self.plans[name] = ReadPlan.of(self.specs[name], SOURCE)
            self.component_specs[name] = component.to_spec(name)
        self._series: dict[tuple[str, int], tuple[int, ReplicaSeries]] = {}

    def collect(self, virtual: VirtualGraph, desired: Mapping[str, int], target_rps: float = 0.0) -> Snapshot:
        """The Snapshot of ``virtual`` now; ``desired`` is each component's desired count."""
        now = self.epoch + virtual.now
        components: dict[str, ComponentState] = {}
        component_values: list[SignalValue] = []
        replica_values: list[SignalValue] = []
        gpus: list[GpuSample] = []
        seen: set[tuple[str, int]] = set()
        for name, spec in self.component_specs.items():
            if spec.role is Role.FRONTEND:
                replicas: tuple[ReplicaState, ...] = (
                    ReplicaState(name, 0, Phase.READY, started_at=self.epoch, metrics_url=f"virtual://{name}-0"),
                )
                per = [self._read(name, 0, 0, virtual.frontend_families(target_rps), now, seen, gpus)]
            elif name in virtual.replicas:
                replicas = tuple(self._replica_state(r) for r in virtual.replicas[name])
                per = [
                    self._read(name, r.index, id(r), virtual.worker_families(r), now, seen, gpus)
                    for r in virtual.replicas[name]
                    if r.phase in _SCRAPED
                ]
            else:
                replicas, per = (), []
            components[name] = ComponentState(spec, desired.get(name, len(replicas)), replicas)
            for series in per:
                replica_values.extend(series.values.values())
            component_values.extend(self._aggregates(name, per))
        for key in [k for k in self._series if k not in seen]:
            del self._series[key]
        return Snapshot(
            timestamp=now,
            namespace=self.graph.namespace,
            components=components,
            signals=tuple(component_values),
            replica_signals=tuple(replica_values),
            gpus=tuple(gpus),
        )

    def _replica_state(self, replica: VirtualReplica) -> ReplicaState:
        return ReplicaState(
            replica.spec.name,
            replica.index,
            _PHASES[replica.phase],
            started_at=self.epoch + replica.started_at,
            gpus=replica.gpus,
            metrics_url=f"virtual://{replica.name}",
        )

    def _read(
        self,
        component: str,
        index: int,
        life: int,
        families: Iterable[Metric],
        now: float,
        seen: set[tuple[str, int]],
        gpus: list[GpuSample],
    ) -> ReplicaSeries:
        key = (component, index)
        seen.add(key)
        known = self._series.get(key)
        if known is None or known[0] != life:  # a new replica under an old name starts with empty windows
            known = self._series[key] = (life, ReplicaSeries())
        series = known[1]
        by_name = samples_of(families)
        plan = self.plans[component]
        computed, increases, sources = self.reader.read(plan, by_name, series, now, frozenset(by_name))
        replica = f"{component}-{index}"
        series.values = {
            signal: SignalValue(component, signal, computed[signal], now, False, replica, sources.get(signal, SOURCE))
            for signal in plan.order
            if signal in computed
        }
        series.increases = increases
        if self.with_gpus:
            dcgm = [s for name, samples in by_name.items() if name.startswith("DCGM_") for s in samples]
            gpus.extend(gpus_from_samples(dcgm, now))
        return series

    def _aggregates(self, component: str, replicas: list[ReplicaSeries]) -> list[SignalValue]:
        out: list[SignalValue] = []
        for signal, spec in self.specs[component].items():
            values = [r.values[signal] for r in replicas if signal in r.values]
            increases: list[HistogramPoint] = [r.increases[signal] for r in replicas if signal in r.increases]
            value = aggregate(spec, component, values, increases)
            if value is not None:
                out.append(value)
        return out
